"""Cards (Hugging Face format: YAML front matter + Markdown) for each round's accepted data, the
exported student and the merged training set. The label stage depends on this package alone, so
editing sharing or export code never re-runs a round."""
