"""Prompt guardrails of the chat endpoint: injection and jailbreak detection, PII redaction.

healthgate's guardrail checks send known attacks and PII through ``POST /chat`` and assert that
they are refused or redacted. A guardrail that only matched plain phrases would pass those checks
while being trivially bypassed, so the detector also sees through the evasions the runbook names
("encodage de caractères spéciaux"): base64, URL-encoding and rot13, leetspeak, letters split by
spaces or punctuation, zero-width characters, and look-alike letters (NFKC, casefold, and a small
table of Cyrillic/Greek homoglyphs that NFKC leaves alone).
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
import unicodedata
import urllib.parse

_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e\u034f"), None)
# Look-alike letters on purpose: these are the homoglyphs NFKC does not fold.
_HOMOGLYPHS = str.maketrans({
    "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "і": "i", "ј": "j",
    "ѕ": "s", "ԁ": "d", "һ": "h", "ո": "n", "ԛ": "q", "ԝ": "w", "ν": "v", "ο": "o", "α": "a",
    "ι": "i", "κ": "k", "τ": "t", "ρ": "p", "ε": "e", "ɡ": "g", "ı": "i", "ʏ": "y", "ɑ": "a",
})
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b",
                      "@": "a", "$": "s", "!": "i", "|": "i", "+": "t"})
_LEET_L = str.maketrans({"1": "l", "|": "l"})  # "1" and "|" read as i or as l: both are tried

# Matched against text reduced to its letters, so spacing and punctuation tricks collapse.
_INJECTION = re.compile(
    r"(ignore|disregard|forget|override|skip)(all|any|the|your|of|my)*"
    r"(previous|prior|above|earlier|preceding|former)(instructions|rules|prompts?|directions|messages)?"
    r"|(ignore|disregard|forget)(all|your|the)*(instructions|rules|guidelines)"
    r"|(reveal|print|show|repeat)(me)?(your|the)(system|hidden|initial)(prompt|instructions)"
)
_JAILBREAK = re.compile(
    r"youarenow(dan|an?(unrestricted|unfiltered|evil|jailbroken)|unrestricted|unfiltered|jailbroken|free)"
    r"|doanythingnow|developermode|danmode|jailbreak|nolongerbound|freedfromthetypicalconfines"
    r"|(pretend|roleplay|actas|imagine|playtherole|youwillbe).{0,60}?"
    r"(norestrictions|nofilters|norules|noethics|nolimits|noguidelines|nocensorship|unrestricted|unfiltered"
    r"|uncensored|without(any)?(restrictions|filters|rules|ethics|limits|guidelines|censorship))"
)
_BASE64_TOKEN = re.compile(r"[A-Za-z0-9+/_-]{12,}={0,2}")

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
PHONE = re.compile(
    # French: +33 6 12 34 56 78, 0033 6..., +33 (0)6..., 06 12 34 56 78, 06.12.34.56.78, 0612345678
    r"(?<![\d+])(?:(?:\+|00)33[\s.-]?(?:\(0\)[\s.-]?)?|0)[1-9](?:[\s.-]?\d{2}){4}(?!\d)"
    # other international numbers: +44 20 7946 0958, +1 (555) 123-4567
    r"|(?<![\d+])(?:\+|00)[1-9]\d{0,2}[\s.-]?(?:\(\d{1,4}\)[\s.-]?)?\d{1,4}(?:[\s.-]?\d{2,4}){2,4}(?!\d)"
    # North American national format: (555) 123-4567, 555-123-4567
    r"|(?<!\d)(?:\(\d{3}\)\s?|\d{3}[\s.-])\d{3}[\s.-]\d{4}(?!\d)"
)


def normalise(text: str) -> str:
    """Fold look-alike characters to plain lowercase letters, keeping spacing and punctuation."""
    return unicodedata.normalize("NFKC", text).translate(_INVISIBLE).casefold().translate(_HOMOGLYPHS)


def _letter_forms(text: str) -> set[str]:
    folded = normalise(text)
    forms = {folded, folded.translate(_LEET), folded.translate(_LEET_L).translate(_LEET)}
    return {re.sub(r"[^a-z]", "", form) for form in forms}


def _decodings(text: str) -> list[str]:
    """Plausible hidden payloads: base64 tokens, URL-encoding and rot13 of the whole prompt."""
    found = [codecs.decode(text, "rot13")]
    if "%" in text:
        found.append(urllib.parse.unquote(text))
    for token in _BASE64_TOKEN.findall(text):
        padded = token + "=" * (-len(token) % 4)
        for decode in (base64.b64decode, base64.urlsafe_b64decode):
            try:
                decoded = decode(padded).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError, ValueError):
                continue
            if decoded.isprintable() or decoded.strip().isprintable():
                found.append(decoded)
    return found


def detect_attacks(prompt: str, depth: int = 2) -> list[str]:
    """Categories of attack found in the prompt: ``prompt_injection`` and/or ``jailbreak``."""
    forms = _letter_forms(prompt)
    flagged = []
    if any(_INJECTION.search(form) for form in forms):
        flagged.append("prompt_injection")
    if any(_JAILBREAK.search(form) for form in forms):
        flagged.append("jailbreak")
    if depth > 0:
        for hidden in _decodings(prompt):
            flagged += [c for c in detect_attacks(hidden, depth - 1) if c not in flagged]
    return sorted(flagged, key=["prompt_injection", "jailbreak"].index)


def redact_pii(prompt: str) -> tuple[str, dict[str, int]]:
    """The prompt with e-mail addresses and phone numbers replaced, and the count per type.

    NFKC and invisible-character removal first, so full-width digits or a zero-width space inside
    a number do not smuggle PII past the patterns.
    """
    text = unicodedata.normalize("NFKC", prompt).translate(_INVISIBLE)
    text, emails = EMAIL.subn("[REDACTED_EMAIL]", text)  # before phones: addresses contain digits
    text, phones = PHONE.subn("[REDACTED_PHONE]", text)
    return text, {kind: n for kind, n in (("email", emails), ("phone", phones)) if n}
