"""The project's scripts: benchmarks, asset builders, screenshots."""


def first_paragraph(doc: str) -> str:
    """A module docstring's first paragraph on one line: an argparse description that does not stop
    mid-sentence where the paragraph wraps."""
    return " ".join(doc.strip().split("\n\n")[0].split())
