"""Turning a sentence into the words the matcher compares: normalise, expand, drop stop words, stem."""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum
from functools import lru_cache

import snowballstemmer

from handlers.matching.lexicon import (
    EXPANSIONS,
    GENERIC_WORDS,
    INSTRUCTIONS,
    ISE_WORDS,
    KNOWLEDGE_WORDS,
    NON_OWNERSHIP_OPENINGS,
    NON_OWNERSHIP_VERBS,
    OWNERSHIP_CUES,
    PERSON_NOUNS,
    PHRASES,
    SPELLINGS,
    STATEMENT_WORDS,
    STOP_WORDS,
    WE_HAVE,
    WORKPLACE_PHRASES,
    WORKPLACE_WORDS,
    WORLD_WORDS,
    YES_NO_EXCEPTIONS,
    YES_NO_OPENINGS,
)

_STEMMER = snowballstemmer.stemmer("english")
_WORD = re.compile(r"[a-z0-9]+")
_APOSTROPHE = re.compile(r"['’`´](s|re|ve|ll|d|m|t)\b")
_PHRASE = re.compile(
    r"(?<![a-z0-9])("
    + "|".join(re.escape(p) for p in sorted(PHRASES, key=len, reverse=True))
    + r")(?![a-z0-9])"
)
_ISE = re.compile(r"^(.{3,}?)(is)(e|ed|es|ing|ation|ations|er|ers)$")
_YSE = re.compile(r"^(.{2,}?)ys(e|ed|es|ing)$")
# A list of environments ("dev/uat/prod", "dev, test and prod") is environments, not development
# and the product.
_ENVIRONMENT_LIST = re.compile(
    r"\b(?:dev|development)(?:\s*(?:/|,|and|&|->|to|then)\s*(?:test|uat|qa|staging|stage|preprod|"
    r"sit)){0,3}\s*(?:/|,|and|&|->|to|then|or)\s*(?:prod|production)\b"
)
# Abbreviations that are everyday words in lower case ("where do I sit").
_CAPITAL_ABBREVIATIONS = {"SIT": "system integration testing"}
_CAPITAL_ABBREVIATION = re.compile(r"\b(" + "|".join(_CAPITAL_ABBREVIATIONS) + r")\b")
# When something happens is not what it is: "who tests the endpoint before release" asks about
# testing, not releasing.
_BEFORE_RELEASE = re.compile(
    r"\bbefore (?:the |each |every |a |we |it |they )?(?:release|releases|releasing|go live|golive|"
    r"launch|launching|ship|ships|shipping|going live|goes live)\b"
)


def fold(text: str) -> str:
    """Lower-case, strip accents and compatibility forms, apply the phrase rewrites."""
    text = unicodedata.normalize("NFKD", text)
    text = _CAPITAL_ABBREVIATION.sub(lambda m: _CAPITAL_ABBREVIATIONS[m.group(1)], text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    text = _APOSTROPHE.sub("", text)
    text = _PHRASE.sub(lambda m: PHRASES[m.group(1)], text)
    text = _ENVIRONMENT_LIST.sub("environments", text)
    return _BEFORE_RELEASE.sub(" ", text)


def words(text: str) -> list[str]:
    """Surface words after folding and expanding abbreviations; stop words are kept."""
    out: list[str] = []
    for word in _WORD.findall(fold(text)):
        expansion = EXPANSIONS.get(word)
        out.extend(expansion.split() if expansion else (americanise(word),))
    return out


@lru_cache(maxsize=65536)
def americanise(word: str) -> str:
    if word in SPELLINGS:
        return SPELLINGS[word]
    if word not in ISE_WORDS:
        ise = _ISE.match(word)
        if ise:
            return f"{ise.group(1)}iz{ise.group(3)}"
        yse = _YSE.match(word)
        if yse and word not in ISE_WORDS:
            return f"{yse.group(1)}yz{yse.group(2)}"
    return word


def content_words(text: str) -> list[str]:
    return [w for w in words(text) if w not in STOP_WORDS]


# Catalogue phrases repeat across workspaces (most keep the default's), and every matcher built
# reads all of them: their words are worked out once per process. Questions are not cached.
@lru_cache(maxsize=50_000)
def phrase_words(phrase: str) -> tuple[str, ...]:
    return tuple(content_words(phrase))


@lru_cache(maxsize=50_000)
def phrase_stems(phrase: str) -> tuple[str, ...]:
    """A catalogue phrase's distinct stems, in order."""
    return tuple(dict.fromkeys(stem(w) for w in phrase_words(phrase)))


@lru_cache(maxsize=131072)
def stem(word: str) -> str:
    return str(_STEMMER.stemWord(word))


class MessageForm(StrEnum):
    """What kind of message it is, which bounds what the matcher may do with it."""

    OWNERSHIP = "ownership"  # asks who does something: answered when confident
    TOPIC = "topic"  # a bare topic ("data drift", "unit tests?"): treated like a who-question
    UNMARKED = "unmarked"  # no sign either way ("scrum master for team phoenix?"): roles only
    OTHER = "other"  # a request, or a question about something else: never answered


_OPENING = re.compile(
    r"^(?:" + "|".join(re.escape(o) for o in NON_OWNERSHIP_OPENINGS) + r")(?![a-z0-9])"
)
_YES_NO = re.compile(r"^(?:" + "|".join(YES_NO_OPENINGS) + r")\b")
_YES_NO_EXCEPT = re.compile(
    r"^(?:" + "|".join(YES_NO_OPENINGS) + r") (?:" + "|".join(YES_NO_EXCEPTIONS) + r")\b"
)
# "at <somewhere>" names another organisation, unless it is about here ("at the standup", "at group
# level", "at org level") or names a stage of the work ("failing at ingestion", "at deployment").
# `_elsewhere` keeps only a proper name after it ("at Spotify"), not "at peak" or "at login".
_AT_NAME = re.compile(r"\b[Aa]t ([A-Z][\w&]*)")
_ELSEWHERE = re.compile(
    # "Looking at" a thing is working on it, not being somewhere ("is anyone looking at builds").
    r"(?<!\blook )(?<!\blooks )(?<!\blooking )(?<!\blooked )(?<!\bglance )(?<!\bglancing )"
    r"\bat (?!(?:the|our|this|that|these|those|a|an|group|team|project|level|work|scale|least|all|"
    r"once|any|some|each|every|it|them|us|me|you|him|her|night|noon|midnight|org|organization|"
    r"company|department|division|enterprise|\d)\b)(?![a-z]+(?:ion|ions|ment|ments|ing)\b)[a-z]"
)
MAX_TOPIC_WORDS = 3
# How a question without a who or a question mark still asks ("which of you is the architect").
_ASKS = re.compile(
    r"^(?:which|whichever|is there|are there|do " + WE_HAVE + r"|do we got|have we got|got an?|any|"
    r"anyone|anybody|someone|somebody)\b"
)
# Asking which role or person, whatever the verb ("which role has ownership of the mlops process").
_WHICH_ROLE = re.compile(r"^(?:which|what) (?:role|roles|person|people|team member|one of you)\b")
# Where a request goes is who takes it ("where do feature requests go?", "where do I send that").
_ROUTED = re.compile(
    r"\bwhere (?:do|does|should|can) (?:i|we|you) (?:send|raise|file|take|report|log|submit|"
    r"direct|route|escalate)\b|\bwhere (?:do|does|should) (?:[a-z0-9]+ ){1,7}go\b"
)
# Cues that do not ask who in a yes/no question ("do we even need a scrum master", "do we need an
# architect on a 5 person project").
_WHETHER_WORDS = frozenset({"need", "needs", "needed", "person", "people"})
_POSSESSIVES = frozenset({"my", "your", "their", "our", "his", "her", "its"})
# Asides before the question proper ("honestly, is a solution architect needed…").
_ASIDE = re.compile(
    r"^(?:(?:honestly|tbh|so|ok|okay|well|hmm|hey|real talk|serious question|genuine question|"
    r"quick q|quick question) )+"
)
# Who made a public tool, by its name or as "the … library" ("who created terraform", "who came up
# with the great expectations library"), not who made something of ours ("who created our repo").
_MAKERS = (
    r"\bwho (?:s |is )?(?:created|invented|developed|designed|wrote|maintains|maintained|started|"
    r"founded|came up with|is behind|s behind|was behind) "
)
_MADE_BY_NAME = re.compile(
    _MAKERS + r"(?!(?:the|our|a|an|this|that|these|those|my|your|their|his|her|its|some|any|each|"
    r"every|all|new|it|them|us)\b)[a-z]"
)
_MADE_TOOL = re.compile(
    _MAKERS + r"the (?:[a-z0-9]+ ){0,4}(?:library|framework|language|package|tool|standard|"
    r"protocol|algorithm)\b"
)
# Thanks and praise, whatever they mention ("you're a legend, thanks for finding the devops person").
_THANKS = re.compile(r"\b(?:thanks|thank you|thx|cheers|great job|nice one)\b")
# Questions of quantity, age or method, whatever words they contain ("how many data engineers do
# you need per data scientist", "best way to handle missing values").
_HOW_MUCH = re.compile(
    r"^(?:how (?:many|much|old|often|long)|(?:what s |whats |what is |what )?(?:the |a )?"
    r"(?:best|good|right|proper|recommended|easiest|simplest) way)\b"
)
# How a thing works or is done, which no role's name answers ("how does Etsy handle counterfeit
# listings"), unless it asks how to reach someone ("how do I reach the on-call engineer").
_HOW_IT_WORKS = re.compile(
    r"^how (?:do|does|did|can|could|should|would|is|are)\b"
    r"(?!.*\b(?:reach|contact|get hold of|ping|talk to|escalate|get in touch)\b)"
)
# A role in a story ("in the unicorn project book, who does the data quality work?"); not "series"
# or "game", which ML teams' own work is about ("drift in the time series models").
_FICTION = re.compile(
    r"\b(?:in|from) (?:the|that|this) (?:[a-z0-9]+ ){0,3}"
    r"(?:book|novel|show|film|movie|episode|podcast)\b"
)
# What a role's holder is like, not who it is ("what football team does the devops engineer support").
_ABOUT_THE_HOLDER = re.compile(r"^what (?:[a-z]+ ){1,2}(?:does|do|did) (?:the|our|your|a|an)\b")
_WORKPLACE = re.compile(r"\b(?:" + "|".join(WORKPLACE_PHRASES) + r")\b")
_NOTICE = re.compile(r"\b(?:fyi|heads up|psa|just so you know)\b")
# Openings that ask about a role itself, whatever else the message says.
_ABOUT_THE_ROLE = re.compile(
    r"^(?:what do you call|what (?:skills|qualifications|certifications)|which (?:pays|earns)|"
    r"which (?:one |role |job )?(?:is|are) (?:the )?(?:harder|easier|better|worse|best|worst|more|"
    r"less|hardest|easiest|cooler|tougher)\b)"
)


# A "who" right after a person, with no comma between: "developers, who protects the team?" asks.
_RELATIVE_WHO = re.compile(r"\b(?:" + "|".join(sorted(PERSON_NOUNS)) + r") who\b")


# How a sentence that asks begins, question mark or not.
_ASKING = re.compile(
    r"\W*(?:and |also |or |but |so )?(?:who|whos|whose|which|what|whats|where|when|how|can|could|"
    r"would|will|is|are|do|does|did|any|anyone|anybody)\b"
)
# A sentence ends at . ! or ? before a space; an ellipsis ("as a … I want...") does not end one.
_SENTENCE_END = re.compile(r"(?<=[.!?])(?<!\.\.\.)(?<!…)\s+")


def _asked(text: str) -> str:
    """The sentences that ask, when some end in a question mark: those, and a last one left open
    that asks too ("who owns drift? and who retrains"), not one that explains ("where is the
    template repo? I just need the URL")."""
    sentences = [s for s in _SENTENCE_END.split(text.strip()) if s]
    asked = [s for s in sentences if s.endswith("?")]
    if not asked:
        return text
    last = sentences[-1]
    if not last.endswith((".", "!", "?")) and _ASKING.match(fold(last)):
        asked.append(last)
    return " ".join(asked) if len(asked) < len(sentences) else text


def _asks_who(text: str, folded: list[str]) -> bool:
    return folded.count("who") > len(_RELATIVE_WHO.findall(text.lower()))


def _is_cue(folded: list[str], i: int, yes_no: bool) -> bool:
    word = folded[i]
    if word not in OWNERSHIP_CUES:
        return False
    before = folded[i - 1] if i > 0 else ""
    # "owner" in "product owner" names a role; "their own tests" does not ask who owns them.
    if (word == "owner" and before == "product") or (word == "own" and before in _POSSESSIVES):
        return False
    # "do we even need a scrum master", "do product owners need to code", "why do we need a
    # feature store": whether, not who.
    return not (word in _WHETHER_WORDS and (yes_no or before == "even" or folded[0] == "why"))


def message_form(text: str, claimed: frozenset[str] = frozenset()) -> MessageForm:
    """`claimed`: words the catalogue itself uses. A word that elsewhere marks a workplace matter
    or the wider world is the team's work when one of its responsibilities names it ("service
    desk rota", "chair the change advisory board", "meeting room AV")."""
    # The sentences that ask are what the message asks; the rest is context ("I know you tell me
    # who owns pipelines, but what's your favourite colour?").
    return _form(_asked(text), claimed)


def _claims(claimed: frozenset[str], word: str) -> bool:
    """Whether the catalogue uses `word`, as written or in another form ("chairs" where it says
    "chair")."""
    return word in claimed or stem(word) in claimed


def _unclaimed(marking: frozenset[str], claimed: frozenset[str]) -> frozenset[str]:
    """The marking words the catalogue does not use, in any form ("chairs" where it says "chair")."""
    if not claimed:
        return marking
    return frozenset(w for w in marking if not _claims(claimed, w))


def _form(text: str, claimed: frozenset[str] = frozenset()) -> MessageForm:
    folded = _WORD.findall(fold(text))
    workplace = _unclaimed(WORKPLACE_WORDS, claimed)
    world = _unclaimed(WORLD_WORDS, claimed)
    generic = _unclaimed(GENERIC_WORDS, claimed)
    for i, word in enumerate(folded[:-1]):
        if word == "who" and folded[i + 1] in NON_OWNERSHIP_VERBS:
            return MessageForm.OTHER  # "who invented scrum?"
    joined = _ASIDE.sub("", " ".join(folded))
    routed = bool(_ROUTED.search(joined))
    asks_who = routed or _asks_who(text, folded)
    if _MADE_BY_NAME.search(joined) or _made_tool(joined, claimed):
        return MessageForm.OTHER  # "who created terraform": the world's tools, not our work
    if not asks_who and _THANKS.search(joined):
        return MessageForm.OTHER
    if _elsewhere(text, claimed) or any(word in world for word in folded):
        return MessageForm.OTHER  # "who is the scrum master at Spotify": another organisation
    if _workplace_word(folded, workplace) or _workplace_phrase(joined, claimed):
        # "who do I send my sick note to": HR or the building, not the project.
        return MessageForm.OTHER
    if any(word in generic for word in folded):
        return MessageForm.OTHER  # "what does a scrum master earn": the role in general
    if not asks_who and any(word in KNOWLEDGE_WORDS for word in folded):
        return MessageForm.OTHER  # "can someone explain drift vs concept drift"
    if _FICTION.search(joined):
        return MessageForm.OTHER
    if not asks_who and (_HOW_MUCH.match(joined) or _HOW_IT_WORKS.match(joined)):
        return MessageForm.OTHER  # cues do not make these who-questions: "how much do we need…"
    if not asks_who and _NOTICE.search(joined):
        return MessageForm.OTHER  # "our data scientist is off next week fyi": news, not a question
    if _ABOUT_THE_ROLE.match(joined):
        # "what do you call someone who…": its cues do not make it a who-question.
        return MessageForm.OTHER
    if folded and folded[0] in INSTRUCTIONS and not asks_who:
        return MessageForm.OTHER  # "ping the devops engineer that staging is down": an errand
    yes_no = bool(_YES_NO.match(joined)) and not _YES_NO_EXCEPT.match(joined)
    if (
        routed
        or _WHICH_ROLE.match(joined)
        or any(_is_cue(folded, i, yes_no) for i in range(len(folded)))
    ):
        return MessageForm.OWNERSHIP  # cues win over openings: "can you tell me who owns X"
    if _OPENING.match(joined) or yes_no or _ABOUT_THE_HOLDER.match(joined):
        return MessageForm.OTHER
    if len(folded) <= MAX_TOPIC_WORDS and not any(w in STATEMENT_WORDS for w in folded):
        return MessageForm.TOPIC
    if not text.rstrip().endswith("?") and not _ASKS.match(joined):
        return MessageForm.OTHER  # "our data scientist is out sick today": news, not a question
    return MessageForm.UNMARKED


def _elsewhere(text: str, claimed: frozenset[str]) -> bool:
    """ "At" a proper name the catalogue does not use: "the product owner of Jira at Atlassian",
    not "hanging at init", "slow at peak", nor "at M&M" for a team whose work names M&M."""
    for found in _AT_NAME.finditer(text):
        name = _WORD.findall(fold(found.group(1)))
        if name and _claims(claimed, name[0]):
            continue
        if _ELSEWHERE.search(fold(text[max(0, found.start() - 12) : found.end()])):
            return True
    return False


def _workplace_word(folded: list[str], workplace: frozenset[str]) -> bool:
    """A workplace matter's word, but not one used as a verb after "who" ("who chairs the CAB")."""
    return any(
        word in workplace and not (i > 0 and folded[i - 1] == "who")
        for i, word in enumerate(folded)
    )


def _made_tool(joined: str, claimed: frozenset[str]) -> bool:
    """ "Who maintains the requests library": a public tool, unless the catalogue names it as its
    own work ("the Figma component library" of a team whose design system lead keeps it)."""
    found = _MADE_TOOL.search(joined)
    if found is None:
        return False
    said = found.group(0).split()
    if "maintains" not in said:
        return True  # who created, invented, came up with it: the world's, whatever we use
    named = [w for w in said[2:-1] if w not in STOP_WORDS]
    return not any(_claims(claimed, w) for w in named)


def _workplace_phrase(joined: str, claimed: frozenset[str]) -> bool:
    """A workplace phrase in the message that the catalogue does not claim: all of a phrase's
    content words in the catalogue ("meeting room" for a team whose work is meeting-room AV)."""
    return any(
        not (claimed and all(stem(w) in claimed for w in found.split() if w not in STOP_WORDS))
        for found in _WORKPLACE.findall(joined)
    )
