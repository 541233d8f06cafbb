"""What the durable execution service accepts as an operator's input: its limits, and the
checks the forms (actions/forms.py) run before anything is sent. Each raises a
ValidationError whose message says what is wrong, in words a person can act on.
"""

from __future__ import annotations

import json
import re

from django.core.exceptions import ValidationError

# The service's limits (botocore 1.44.5): a callback result (SendDurableExecutionCallback-
# Success `Result`) and other payloads up to 1 MB; a callback failure's error fields
# (type, message, data) up to 1 MB together.
MAX_PAYLOAD_BYTES = 1024 * 1024
MAX_ERROR_BYTES = 1024 * 1024
MAX_ERROR_TYPE = 256
MAX_ERROR_MESSAGE = 4096


def json_payload(text: str, what: str = "Result", blank: str = "{}") -> str:
    """JSON text, checked and stripped ("" becomes `blank`); refuse invalid or oversized
    payloads.

    Any valid JSON within the size limit is accepted, however deeply nested, as the service
    accepts it: json.loads gives up past about a thousand levels (RecursionError), so such a
    payload is checked again without recursion. The pages that show payloads show one too
    deep to lay out as the text it is (browser/payloads.py)."""
    text = (text or "").strip() or blank
    if not text:
        return ""
    data = text.encode("utf-8")
    if len(data) > MAX_PAYLOAD_BYTES:
        raise ValidationError(
            f"{what} is {len(data):,} bytes; the service accepts at most {MAX_PAYLOAD_BYTES:,}."
        )
    try:
        # parse_int=str: a number of more than 4,300 digits is valid JSON, which int() refuses.
        json.loads(text, parse_int=str)
    except ValueError as exc:
        raise ValidationError(f"{what} is not valid JSON: {exc}") from exc
    except RecursionError:
        problem = json_error(text)
        if problem:
            raise ValidationError(f"{what} is not valid JSON: {problem}") from None
    return text


# A token of JSON after any whitespace, as json.loads reads them (NaN and Infinity too; no
# raw control character in a string): a run of opening brackets (of arrays, the last may
# open an object), a run of closing ones, an object's key with its colon, a comma, a value.
_JSON_STRING = r'"(?:[^"\\\x00-\x1f]++|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*+"'
_JSON_NUMBER = r"-?(?:0|[1-9][0-9]*+)(?:\.[0-9]++)?+(?:[eE][-+]?+[0-9]++)?+"
_JSON_TOKEN = re.compile(
    r"[ \t\n\r]*+(?:"
    r"(?P<open>\[*[\[{])|(?P<close>[\]}]++)"
    rf"|(?P<key>{_JSON_STRING}[ \t\n\r]*+:)|(?P<comma>,)"
    rf"|(?P<value>{_JSON_STRING}|{_JSON_NUMBER}|true|false|null|NaN|-?Infinity))"
)
_CLOSING = str.maketrans("[{", "]}")
# What may come next: a value; a value or "]" (after "["); a key; a key or "}" (after "{");
# "," or a closing bracket (after a value inside a container), or the end (after the top one).
_VALUE, _VALUE_OR_CLOSE, _KEY, _KEY_OR_CLOSE, _AFTER = range(5)


def json_error(text: str) -> str:
    """What keeps `text` from being one JSON value, or "" when it is one: what json.loads
    accepts, checked with a stack of open brackets instead of recursion, so at any depth."""
    closers: list[str] = []  # the bracket that closes each open container, innermost last
    expect = _VALUE
    pos = 0
    while True:
        token = _JSON_TOKEN.match(text, pos)
        if token is None:
            rest = text[pos:].lstrip(" \t\n\r")
            at = len(text) - len(rest)
            if rest:
                return f"unexpected “{rest[0]}” at character {at:,}"
            if expect == _AFTER and not closers:
                return ""
            return f"the text ends at character {at:,} before the JSON value does"
        kind, found, pos = token.lastgroup, token.group(token.lastgroup), token.end()
        if kind == "open" and expect in (_VALUE, _VALUE_OR_CLOSE):
            closers.extend(found.translate(_CLOSING))
            expect = _KEY_OR_CLOSE if found[-1] == "{" else _VALUE_OR_CLOSE
        elif kind == "close" and expect in (_AFTER, _VALUE_OR_CLOSE, _KEY_OR_CLOSE):
            expected = "".join(reversed(closers[-len(found) :]))
            if expected != found:
                wrong = next(
                    (i for i, (a, b) in enumerate(zip(expected, found, strict=False)) if a != b),
                    len(expected),
                )
                return f"unexpected “{found[wrong]}” at character {token.start(kind) + wrong:,}"
            del closers[-len(found) :]
            expect = _AFTER
        elif kind == "key" and expect in (_KEY, _KEY_OR_CLOSE):
            expect = _VALUE
        elif kind == "comma" and expect == _AFTER and closers:
            expect = _KEY if closers[-1] == "}" else _VALUE
        elif kind == "value" and expect in (_VALUE, _VALUE_OR_CLOSE):
            expect = _AFTER
        else:
            return f"unexpected “{found[0]}” at character {token.start(kind):,}"


def text(value: str, field: str, limit: int, required: bool = False) -> str:
    value = (value or "").strip()
    if required and not value:
        raise ValidationError(f"{field} is required.")
    if len(value) > limit:
        raise ValidationError(f"{field} is longer than {limit:,} characters.")
    return value


def error_fields(error_type: str, error_message: str, error_data: str = "") -> tuple[str, str, str]:
    """A callback failure's error, checked: a type, and the three fields within 1 MB."""
    error_type = text(error_type, "Error type", MAX_ERROR_TYPE, required=True)
    error_message = (error_message or "").strip()
    data = json_payload(error_data, "Error data", blank="")
    size = sum(len(value.encode("utf-8")) for value in (error_type, error_message, data))
    if size > MAX_ERROR_BYTES:
        raise ValidationError(
            f"The error's type, message and data are {size:,} bytes together; the service "
            f"accepts at most {MAX_ERROR_BYTES:,}."
        )
    return error_type, error_message, data


EXECUTION_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


def execution_name(value: str) -> str:
    name = text(value, "Name", 64, required=True)
    if not set(name) <= EXECUTION_NAME_CHARS:
        raise ValidationError("Name may hold only letters, digits, '-' and '_'.")
    return name
