"""The student: a small pretrained encoder fine-tuned with transformers (torch imported lazily)."""
