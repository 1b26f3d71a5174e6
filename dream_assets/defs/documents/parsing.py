"""The parse step of `parsed_documents`: every (document, parser) pair parsed once, in bounded
workers, and each outcome stored: the parsed text, or the quarantine record with its reason."""

from __future__ import annotations

from dataclasses import dataclass, field

from dream_assets import layout
from dream_assets.hashing import sha256_bytes
from dream_assets.lib.documents.parse_pool import ParseLimits, ParseOutcome, ParseTask, parse_bounded
from dream_assets.plugins.parsers import DEFAULT_PARSER, PARSERS, ParsedDocument

# the columns of `parsed_documents`' preview table
PARSED_COLUMNS = ["document", "parser", "title", "language", "pages", "characters", "ocr_pages", "seconds"]


@dataclass
class ParseResult:
    """What a parse step did: preview `rows` (one per document and parser parsed or reused), the
    pairs `reused` from an earlier run, the reason of each quarantined pair (by document id, with
    the parser in parentheses when it is not the default), the longest parse in seconds."""

    rows: list[dict] = field(default_factory=list)
    reused: int = 0
    quarantined: dict[str, str] = field(default_factory=dict)
    max_seconds: float = 0.0


def _label(document_id: str, parser: str) -> str:
    return document_id if parser == DEFAULT_PARSER else f"{document_id} ({parser})"


def _source(store, document_id: str) -> tuple[str, bytes] | None:
    """(file name, bytes) of a document's raw file, or None when none was copied."""
    found = store.list(layout.source_document_prefix(document_id))
    if not found:
        return None
    return found[0].key, store.read_bytes(found[0].key)


def _stored(store, document_id: str, parser: str, sha256: str) -> ParsedDocument | None:
    """The stored parse of these bytes by this parser's current version, or None."""
    key = layout.parsed_document_key(document_id, parser)
    if not store.exists(key):
        return None
    document = ParsedDocument.from_dict(store.read_json(key))
    current = PARSERS.get(parser).version
    return document if document.sha256 == sha256 and document.parser_version == current else None


def parse_documents(context, store, document_ids: list[str], parsers: list[str], limits: ParseLimits):
    """Parses each document with each parser (reusing stored parses), storing every outcome;
    returns the `ParseResult`."""
    result, outcomes, carried = ParseResult(), [], set()

    def tasks():
        for document_id in document_ids:
            source = _source(store, document_id)
            if source is None:  # source_documents quarantined it, or it never came
                key = layout.quarantine_key(document_id)
                earlier = store.read_json(key) if store.exists(key) else {"reason": "missing", "detail": "no raw file"}
                for parser in parsers:
                    outcomes.append(
                        ParseOutcome(document_id, None, earlier["reason"], earlier["detail"], parser=parser)
                    )
                    carried.add((document_id, parser))
                continue
            name, data = source
            sha256 = sha256_bytes(data)
            for parser in parsers:
                if (document := _stored(store, document_id, parser, sha256)) is not None:
                    result.reused += 1
                    pages = len(document.page_starts)
                    outcomes.append(ParseOutcome(document_id, document, parser=parser, pages=pages, reused=True))
                else:
                    yield ParseTask(document_id, data, sha256, name, parser)

    for outcome in parse_bounded(tasks(), limits):
        outcomes.append(outcome)
        context.log.info(
            "%s %s with %s in %.1f s",
            *("parsed" if outcome.document else "rejected", outcome.document_id, outcome.parser, outcome.seconds),
        )
    for outcome in sorted(outcomes, key=lambda outcome: (outcome.document_id, outcome.parser)):
        _store(context, store, outcome, (outcome.document_id, outcome.parser) in carried, result)
    result.max_seconds = max((outcome.seconds for outcome in outcomes), default=0.0)
    return result


def _store(context, store, outcome: ParseOutcome, carried: bool, result: ParseResult) -> None:
    """Writes one outcome: the parsed document, or its quarantine record (reason, detail,
    seconds, pages), removing the other; adds its row or reason to `result`. A `carried` pair was
    quarantined (and logged) by `source_documents`."""
    document_id, parser = outcome.document_id, outcome.parser
    if outcome.document is None:
        result.quarantined[_label(document_id, parser)] = f"{outcome.reason}: {outcome.detail}"
        record = {key: getattr(outcome, key) for key in ("document_id", "reason", "detail", "seconds", "pages")}
        store.write_json(layout.quarantine_key(document_id, parser), {**record, "parser": parser})
        store.delete(layout.parsed_document_key(document_id, parser))
        if not carried:
            label = _label(document_id, parser)
            context.log.warning("quarantined %s: %s", label, result.quarantined[label])
        return
    document = outcome.document
    if not outcome.reused:
        store.write_json(layout.parsed_document_key(document_id, parser), document.to_dict())
        store.delete(layout.quarantine_key(document_id, parser))
    ocr_pages = sum(value is not None for value in document.page_confidence)
    shown = (parser, document.title, document.language, len(document.page_starts), len(document.text), ocr_pages)
    result.rows.append(dict(zip(PARSED_COLUMNS, (document_id, *shown, round(outcome.seconds, 3)), strict=True)))
