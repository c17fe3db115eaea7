"""procd_mm.utils.checkpoint_io: the content digest of the project's checkpoints."""
import zipfile

import pytest
import torch

from procd_mm.utils import InputError
from procd_mm.utils.checkpoint_io import (
    DIGEST_KEY,
    add_digest,
    content_digest,
    read_checkpoint,
)


def corrupt_tensor_bytes(path: str, member_suffix: str = 'data/0', offset: int = 3) -> None:
    """Flip one byte of a tensor's data record inside a torch zip checkpoint, in place (the
    zip's structure and every other record stay intact, so torch still loads it)."""
    with zipfile.ZipFile(path) as archive:
        info = next(i for i in archive.infolist() if i.filename.endswith(member_suffix))
    with open(path, 'r+b') as f:
        f.seek(info.header_offset + 26)
        name_len, extra_len = (int.from_bytes(f.read(2), 'little') for _ in range(2))
        data_start = info.header_offset + 30 + name_len + extra_len
        f.seek(data_start + offset)
        byte = f.read(1)
        f.seek(data_start + offset)
        f.write(bytes([byte[0] ^ 0xFF]))


def checkpoint():
    torch.manual_seed(0)
    return {'meta': {'iter': 4},
            'state_dict': {'w': torch.randn(4, 3), 'b': torch.zeros(3, dtype=torch.bfloat16),
                           'n': torch.tensor(7), 'empty': torch.zeros(0)},
            'optimizer': {'state': {0: {'momentum_buffer': torch.ones(2)}},
                          'param_groups': [{'lr': 0.01, 'params': [0]}]}}


@pytest.mark.parametrize('mmap', [True, False])
def test_the_digest_survives_save_and_load(tmp_path, mmap):
    path = str(tmp_path / 'c.pth')
    saved = add_digest(checkpoint())
    torch.save(saved, path)
    loaded = read_checkpoint(path, mmap=mmap)
    assert loaded['meta'][DIGEST_KEY] == saved['meta'][DIGEST_KEY] == content_digest(loaded)


def test_every_part_of_the_content_changes_the_digest():
    base = content_digest(checkpoint())
    changes = [lambda c: c['state_dict']['w'].__setitem__((0, 0), 1.5),
               lambda c: c['state_dict'].__setitem__('w', c['state_dict']['w'].double()),
               lambda c: c['state_dict'].__setitem__('w', c['state_dict']['w'].reshape(3, 4)),
               lambda c: c['state_dict'].__setitem__('w2', c['state_dict'].pop('w')),
               lambda c: c['optimizer']['param_groups'][0].__setitem__('lr', 0.02),
               lambda c: c['optimizer']['state'][0]['momentum_buffer'].add_(1)]
    digests = set()
    for change in changes:
        changed = checkpoint()
        change(changed)
        digests.add(content_digest(changed))
    assert base not in digests and len(digests) == len(changes)
    # the meta (where the digest itself lives) is not part of the content
    other_meta = checkpoint()
    other_meta['meta']['iter'] = 8
    assert content_digest(other_meta) == base


def test_a_byte_changed_on_disk_is_refused_naming_the_file(tmp_path):
    path = str(tmp_path / 'c.pth')
    torch.save(add_digest(checkpoint()), path)
    corrupt_tensor_bytes(path)
    torch.load(path, weights_only=True)  # torch itself does not notice
    with pytest.raises(InputError, match=f'checkpoint {path} is corrupt: its weights differ '
                                         f'from the content digest saved with them'):
        read_checkpoint(path)


def test_a_checkpoint_without_a_digest_loads_as_before(tmp_path):
    path = str(tmp_path / 'c.pth')
    torch.save(checkpoint(), path)
    corrupt_tensor_bytes(path)
    assert 'meta' in read_checkpoint(path)


def test_a_full_disk_is_one_line_and_keeps_the_old_file(tmp_path):
    """``torch.save`` onto a full disk raises a RuntimeError ("unexpected pos ...") chained
    to the ENOSPC ``OSError``; both forms are named as a full disk, the old file stays and no
    temporary file is left."""
    import errno

    from procd_mm.utils.checkpoint_io import write_atomically
    path = tmp_path / 'out.pth'
    path.write_bytes(b'the old checkpoint')

    def disk_full_inside_torch_save(f):
        f.write(b'partial')
        try:
            raise OSError(errno.ENOSPC, 'No space left on device')
        except OSError:
            raise RuntimeError('[enforce fail at inline_container.cc:783] . '  # noqa: B904
                               'unexpected pos 64')

    def disk_full(f):
        raise OSError(errno.ENOSPC, 'No space left on device')

    for write in (disk_full_inside_torch_save, disk_full):
        with pytest.raises(InputError, match=f'^no space left on the device to write {path} '
                                             r'\(the old file is kept\)$'):
            write_atomically(str(path), write)
        assert path.read_bytes() == b'the old checkpoint'
        assert sorted(p.name for p in tmp_path.iterdir()) == ['out.pth']
    with pytest.raises(InputError, match=r'\(nothing was written\)$'):
        write_atomically(str(tmp_path / 'new.pth'), disk_full)
    assert not (tmp_path / 'new.pth').exists()
    # another OSError is not a full disk: it keeps its traceback
    with pytest.raises(PermissionError):
        write_atomically(str(path), lambda f: (_ for _ in ()).throw(PermissionError(13, 'x')))
