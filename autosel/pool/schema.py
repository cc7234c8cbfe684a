"""The canonical pool record and its Arrow schema.

One row per sample:

| column       | type                               | meaning                                          |
|--------------|------------------------------------|--------------------------------------------------|
| `sample_id`  | string, unique                     | given `id`, else `h:<content hash>[-n]`         |
| `prompt`     | list<struct<role, content>>        | every message before the final assistant turn    |
| `response`   | string                             | the final assistant message (the SFT target)     |
| `source`     | string                             | domain / origin (`"default"` when absent)        |
| `difficulty` | float64, nullable                  | the pool's own difficulty label                  |
| `answer`     | string, nullable                   | reference final answer (`answer` or `target`)    |
| `group`      | string, nullable                   | prompt id when a prompt has several responses    |
| `correct`    | bool, nullable                     | response judged correct (rejection sampling)     |
| `metadata`   | string (JSON object), nullable     | free metadata, carried through untouched         |

Row order is the input order; the row index is what operators and signals align on.
"""

from __future__ import annotations

import pyarrow as pa

SCHEMA_VERSION = 1

MESSAGE_TYPE = pa.struct([("role", pa.string()), ("content", pa.string())])

POOL_SCHEMA = pa.schema(
    [
        ("sample_id", pa.string()),
        ("prompt", pa.list_(MESSAGE_TYPE)),
        ("response", pa.string()),
        ("source", pa.string()),
        ("difficulty", pa.float64()),
        ("answer", pa.string()),
        ("group", pa.string()),
        ("correct", pa.bool_()),
        ("metadata", pa.string()),
    ]
)

COLUMNS = tuple(POOL_SCHEMA.names)
DEFAULT_SOURCE = "default"

# Roles accepted in chat prompts, and ShareGPT `from` values mapped onto them.
CHAT_ROLES = ("system", "user", "assistant", "tool")
SHAREGPT_ROLES = {
    "system": "system",
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "chatgpt": "assistant",
    "bing": "assistant",
    "bard": "assistant",
    "tool": "tool",
    "function_call": "assistant",
    "observation": "tool",
}
