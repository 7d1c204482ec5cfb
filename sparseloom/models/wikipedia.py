"""Real English text offline: the Wikipedia excerpt that ships inside the ``gensim`` wheel, split by page.

The file (``gensim/test/test_data/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2``)
holds 206 pages of the English Wikipedia dump; the 100 redirects are dropped and the markup of the other
106 is removed by gensim's own ``filter_wiki``, then the emphasis quotes (``''``, ``'''``) and heading
markers (``==``) it leaves are dropped and runs of blank lines collapsed (about 480K words).

Calibration and evaluation never share a page: every ``CALIBRATION_EVERY``-th page (in file order,
starting with the first) is calibration text, the rest evaluation text. Language models read fixed-length
token windows taken round-robin over the pages (``token_windows``); sentence encoders read
sentences (``sentences``).
"""
from __future__ import annotations

import bz2
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from sparseloom.models import ModelsMissing

CALIBRATION_EVERY = 4
_EXCERPT = "test/test_data/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


def excerpt_path() -> Path:
    """The bz2 XML excerpt inside the installed gensim package."""
    try:
        import gensim
    except ImportError:
        raise ModelsMissing("the Wikipedia evaluation text needs the models extra: pip install '.[models]' "
                            "(package gensim)") from None
    path = Path(gensim.__file__).resolve().parent / _EXCERPT
    if not path.is_file():
        raise ModelsMissing(f"gensim is installed but {path} is missing")
    return path


def _clean(markup: str) -> str:
    from gensim.corpora.wikicorpus import filter_wiki

    text = filter_wiki(markup).replace("'''", "").replace("''", "")
    text = re.sub(r"^=+\s*(.*?)\s*=+\s*$", r"\1", text, flags=re.MULTILINE)
    return re.sub(r"\n\s*\n\s*", "\n\n", text).strip()


def pages() -> list[tuple[str, str]]:
    """(title, plain text) of every non-redirect page, in file order."""
    out = []
    with bz2.open(excerpt_path()) as stream:
        for _, element in ET.iterparse(stream):
            if not element.tag.endswith("}page"):
                continue
            ns = element.tag[:-len("page")]
            title, markup = element.findtext(f"{ns}title"), element.findtext(f"{ns}revision/{ns}text") or ""
            element.clear()
            if not markup.lstrip().lower().startswith("#redirect"):
                out.append((title, _clean(markup)))
    return out


def split(which: str) -> list[tuple[str, str]]:
    """The pages of ``which`` ("calibration" or "evaluation"); disjoint, together all pages."""
    if which not in ("calibration", "evaluation"):
        raise ValueError(f"split={which!r}; allowed: 'calibration', 'evaluation'")
    want = which == "calibration"
    return [p for i, p in enumerate(pages()) if (i % CALIBRATION_EVERY == 0) == want]


def token_windows(encode, texts: list[str], n_windows: int, length: int) -> np.ndarray:
    """(n_windows, length) token ids, taken round-robin over the texts: the first window of every text, then
    the second of every text, ...; a text's windows are consecutive from its start (a tail shorter than
    ``length`` is dropped). ``encode(text)`` gives a text's token ids."""
    per_text = []
    for text in texts:
        ids = np.asarray(encode(text), dtype=np.int64)
        per_text.append([ids[s:s + length] for s in range(0, len(ids) - length + 1, length)])
    windows = [w for rank in range(max(map(len, per_text), default=0)) for ws in per_text if rank < len(ws)
               for w in [ws[rank]]]
    if len(windows) < n_windows:
        raise ValueError(f"the texts hold only {len(windows)} windows of {length} tokens, {n_windows} asked for")
    return np.stack(windows[:n_windows])


def sentences(texts: list[str], count: int, min_words: int = 6, max_words: int = 40) -> list[str]:
    """The first ``count`` distinct sentences of ``texts`` with ``min_words``..``max_words`` words, taken
    round-robin over the texts (one sentence of each text in turn) so no single page dominates."""
    per_text = []
    for text in texts:
        found = []
        for paragraph in text.split("\n\n"):
            for s in _SENTENCE_END.split(" ".join(paragraph.split())):
                if min_words <= len(s.split()) <= max_words and s[-1] in ".!?":
                    found.append(s)
        per_text.append(found)
    out: dict[str, None] = {}
    for rank in range(max(map(len, per_text), default=0)):
        for found in per_text:
            if rank < len(found):
                out.setdefault(found[rank])
                if len(out) == count:
                    return list(out)
    raise ValueError(f"the texts hold only {len(out)} usable sentences, {count} asked for")
