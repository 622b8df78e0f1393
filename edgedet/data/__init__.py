"""Detection data: COCO-format loading with validation, and the synthetic shapes set."""
