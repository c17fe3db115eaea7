"""CPUSyncBatchNorm and the prototype path with SyncBN heads on two gloo processes."""
import sys

from tests.conftest import run_tool


def test_two_ranks_with_unequal_level_rows_finish(synthetic_root):
    """Rank 0 has level-3 RoI rows, rank 1 none: the SyncBN heads' collectives stay in step
    (the path passes start none), both ranks finish two steps well within the timeout, and
    the synchronised statistics equal BN over the concatenated batch."""
    result = run_tool(sys.executable, '-m', 'torch.distributed.run', '--nproc-per-node', '2',
                      '--master-port', '29531', '-m', 'tests.test_models.sync_bn_worker',
                      synthetic_root, timeout=300)
    assert 'rank 0: level-3 rows per stage' in result.stdout
    assert 'rank 1: level-3 rows per stage [0, 0, 0], steps done' in result.stdout
    # the same for an RTMDet student, whose head has per-level SyncBN: rank 1 has no
    # positive prior on the replaced level
    assert 'rank 0: RTMDet positives on the level' in result.stdout
    assert 'rank 1: RTMDet positives on the level 0, steps done' in result.stdout
