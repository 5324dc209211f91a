"""What the stage scripts (stages/*.py) share about rounds: the stage runner (stage), round slots
and plans (slots), inactive-slot placeholders (inactive), the sample checks (checks), the seed
check (seedcheck), label noise and second labellings (noise, relabel), and what earlier teacher
stages spent (spending)."""
