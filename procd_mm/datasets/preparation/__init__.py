"""Offline data preparation: Cityscapes -> COCO, fog synthesis, BDD100k weather splits and the
synthetic Cityscapes generator. Imported by the tools and tests, never by a config; imports
run from here to the registered datasets only."""
