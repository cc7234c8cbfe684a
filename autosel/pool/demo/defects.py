"""Planted defects: truncation, off-topic chit-chat, degenerate lengths, near-duplicate rewording.

Every function is pure given its ``random.Random``. Near duplicates are measured the way
the MinHash signal sees text: Jaccard similarity of the sets of word 3-gram shingles of
the lower-cased words of the prompt messages then the response.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence

from autosel.pool.demo.base import FINAL_PREFIX

WORD_RE = re.compile(r"\w+")
Messages = list[dict[str, str]]

CHITCHAT = (
    "Thanks for the message!",
    "I hope you are having a lovely day.",
    "By the way, I baked banana bread yesterday and it turned out great.",
    "The weather has been really nice lately, perfect for a walk in the park.",
    "Have you seen any good movies recently?",
    "I have been learning to play the guitar, and my fingers hurt a little.",
    "My favourite season is autumn because of the colours.",
    "Let me know if you want some book recommendations.",
    "Coffee or tea? I can never decide.",
    "Honestly, weekends always feel too short.",
    "My neighbour's cat visits every morning and demands breakfast.",
    "I read somewhere that octopuses have three hearts, which is wild.",
    "We should plan a picnic when it gets warmer.",
    "Music always helps me focus when I am working.",
    "Did you know that the oldest known recipe is for beer?",
    "Anyway, that is enough about me.",
)
SHORT = ("{a}", "The answer is {a}.", "I am not sure.", "Hmm.", "No idea.", FINAL_PREFIX + "{a}")
PADDING = ("Let me double-check this.", "Wait, let me check that again.",
           "To be sure, I will repeat the step.", "Checking once more.")

# Light rewording: phrase -> alternatives (applied at word boundaries, case kept).
SYNONYMS: dict[str, tuple[str, ...]] = {
    "buys": ("purchases",), "gives away": ("hands out", "donates"), "gets": ("receives",),
    "bags": ("sacks", "packs"), "equally": ("evenly",), "now": ("at the end",),
    "starts with": ("begins with",), "At the start": ("In the beginning",),
    "Buying": ("Purchasing",), "leaves": ("leaves us with",), "makes": ("gives",),
    "so": ("thus", "therefore"), "Start": ("Begin",), "Search outward": ("Expand outward",),
    "is reached": ("is found",), "A graph has": ("Consider a graph with",),
    "What is the length of": ("Find the length of",), "undirected edges": ("edges",),
    "Evaluate": ("Compute",), "Substitute the values": ("Replace the variables",),
    "Plug in the values": ("Insert the values",), "Is the expression": ("Is it",),
    "remaining": ("left",), "month by month": ("one month at a time",),
    "Count the days": ("Count days",), "running total": ("total so far",),
    "How many": ("What number of",),
}
FILLERS_PROMPT = ("Question: ", "Please help. ", "Quick question: ", "Hi! ")
FILLERS_RESPONSE = ("Sure, here is how to solve it.", "Okay, let us think.", "Good question.",
                    "Alright.")


def shingles(text: str, n: int = 3) -> set[tuple[str, ...]]:
    """Word ``n``-gram shingles of the lower-cased words (a shorter text is one shingle)."""
    words = WORD_RE.findall(text.lower())
    if len(words) < n:
        return {tuple(words)} if words else set()
    return set(zip(*(words[i:] for i in range(n)), strict=False))


def jaccard(a: set[tuple[str, ...]], b: set[tuple[str, ...]]) -> float:
    union = len(a | b)
    return len(a & b) / union if union else 1.0


def sample_text(messages: Sequence[dict[str, str]], response: str) -> str:
    """The text the dedup signals see: prompt messages then the response."""
    return "\n".join([*(m["content"] for m in messages), response])


def truncate(response: str, rng: random.Random) -> str:
    """Cut a response mid-way, before its final-answer line (30-85 % of its words)."""
    body = response.rsplit("\n", 1)[0]
    words = body.split(" ")
    cut = rng.randint(max(1, int(0.3 * len(words))), max(1, int(0.85 * len(words))))
    return " ".join(words[:cut]).rstrip()


def off_topic(rng: random.Random) -> str:
    """Friendly chit-chat unrelated to any prompt (3-6 sentences)."""
    return " ".join(rng.sample(CHITCHAT, rng.randint(3, 6)))


def too_short(answer: str, rng: random.Random) -> str:
    """A degenerate response of a few tokens (sometimes a bare final-answer line)."""
    return rng.choice(SHORT).format(a=answer)


def too_long(lines: Sequence[str], answer: str, rng: random.Random) -> str:
    """Reasoning then repetitive padding to 300-600 words; the answer ends half of them."""
    out = list(lines)
    target = rng.randint(300, 600)
    n_words = sum(len(x.split()) for x in out)
    loop = list(lines[-2:]) if lines else []
    while n_words < target:
        chunk = [rng.choice(PADDING), *loop]
        out += chunk
        n_words += sum(len(x.split()) for x in chunk)
    if rng.random() < 0.5:
        out.append(FINAL_PREFIX + answer)
    return "\n".join(out)


# ------------------------------------------------------------------- near duplicates

_SYN_ANY = re.compile(
    r"\b(" + "|".join(map(re.escape, sorted(SYNONYMS, key=len, reverse=True))) + r")\b"
)
_SYN_ONE = {k: re.compile(rf"\b{re.escape(k)}\b") for k in SYNONYMS}


def _synonym(text: str, rng: random.Random) -> str:
    present = list(dict.fromkeys(_SYN_ANY.findall(text)))  # in order of appearance
    if not present:
        return text
    key = rng.choice(present)
    return _SYN_ONE[key].sub(rng.choice(SYNONYMS[key]), text)


def _punctuation(text: str, rng: random.Random) -> str:
    swaps = ((", so ", "; so "), (" = ", "="), (". ", "; "), (": ", " - "))
    present = [s for s in swaps if s[0] in text]
    if not present:
        return text
    old, new = rng.choice(present)
    return text.replace(old, new, 1)


def _reorder(text: str, rng: random.Random) -> str:
    """Reorder clauses that commute: items of a comma list, or the question to the front."""
    lists = re.findall(r"(?:[A-Z]-[A-Z]|[a-z] = (?:True|False))(?:, (?:[A-Z]-[A-Z]|[a-z] = "
                       r"(?:True|False)))+", text)
    if lists and rng.random() < 0.7:
        chosen = rng.choice(lists)
        items = chosen.split(", ")
        rng.shuffle(items)
        return text.replace(chosen, ", ".join(items), 1)
    sentences = re.split(r"(?<=[.?!])\s+", text)
    q = [i for i, s in enumerate(sentences) if s.endswith("?") and "\n" not in s]
    if not q or q[0] == 0:
        return text
    i = q[0]
    return " ".join([sentences[i], *sentences[:i], *sentences[i + 1:]])


def _filler(fillers: Sequence[str], prefix_line: bool) -> Callable[[str, random.Random], str]:
    def op(text: str, rng: random.Random) -> str:
        if any(text.startswith(f[:5]) for f in fillers):
            return text  # one filler is a light edit; a stack of them is not
        fill = rng.choice(fillers)
        return f"{fill}\n{text}" if prefix_line else fill + text
    return op


_PART_OPS: dict[str, tuple[Callable[[str, random.Random], str], ...]] = {
    "user": (_synonym, _synonym, _punctuation, _reorder, _filler(FILLERS_PROMPT, False)),
    "body": (_synonym, _synonym, _synonym, _punctuation, _filler(FILLERS_RESPONSE, True)),
}


def reword(messages: Messages, response: str, rng: random.Random, band: tuple[float, float],
           max_ops: int = 40) -> tuple[Messages, str] | None:
    """A light rewording whose shingle Jaccard to the original lies in ``band``.

    Edits (synonyms, punctuation, reordered clauses, a filler phrase) are applied one at
    a time to the user message and the reasoning (never the final-answer line) until
    the similarity falls below a random target inside the band; an edit that would
    fall below the band is undone. Returns None when the band cannot be reached.
    """
    lo, hi = band
    target = rng.uniform(lo + 0.05 * (hi - lo), hi - 0.1 * (hi - lo))
    user_at = max(i for i, m in enumerate(messages) if m["role"] == "user")
    body, final = response.rsplit("\n", 1) if "\n" in response else ("", response)
    parts = {"user": messages[user_at]["content"], "body": body}
    orig = shingles(sample_text(messages, response))

    def assemble() -> tuple[Messages, str]:
        msgs = [dict(m) for m in messages]
        msgs[user_at]["content"] = parts["user"]
        return msgs, f"{parts['body']}\n{final}" if parts["body"] else final

    sim = 1.0
    for _ in range(max_ops):
        part = rng.choice(("user", "body"))
        before = parts[part]
        parts[part] = rng.choice(_PART_OPS[part])(before, rng)
        if parts[part] == before:
            continue
        new_sim = jaccard(orig, shingles(sample_text(*assemble())))
        if new_sim < lo:
            parts[part] = before
            continue
        sim = new_sim
        if sim <= target:
            break
    return assemble() if lo <= sim <= hi else None
