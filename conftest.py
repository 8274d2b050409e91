"""pytest hooks for the whole repository (`make test`: the helper's unit tests and nbval on every notebook)."""


def pytest_collection_modifyitems(items):
    """nbval runs the chapters in the course's order (`mnistkit.course.course_order`): chapter 09 after chapter 10,
    whose checkpoint it reads. Other items keep their place relative to each other."""
    from pathlib import Path

    from mnistkit.course import course_order

    def stem(item) -> str | None:
        path = Path(str(item.fspath))
        return path.stem if path.suffix == ".ipynb" and path.parent.name == "notebooks" else None

    chapters = [s for s in dict.fromkeys(stem(item) for item in items) if s]
    rank = {s: i for i, s in enumerate(course_order(chapters))}
    slots = [i for i, item in enumerate(items) if stem(item)]  # the chapters' items move among their own places
    ordered = sorted((items[i] for i in slots), key=lambda item: rank[stem(item)])  # stable: cells keep their order
    for i, item in zip(slots, ordered):
        items[i] = item
