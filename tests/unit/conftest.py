"""Fixtures more than one unit-test module takes, defined in tests/support/."""

from tests.support.dkim_keys import key_pair  # noqa: F401
