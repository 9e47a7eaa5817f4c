"""What a call raises, to compare two routes' errors word for word."""


def raised(call) -> tuple[type, str]:
    """``(type, message)`` of the TypeError or ValueError ``call()`` raises; fails the test if
    it raises none."""
    try:
        call()
    except (TypeError, ValueError) as exc:
        return type(exc), str(exc)
    raise AssertionError("no error")
