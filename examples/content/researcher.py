"""The research agent: finds the corpus documents on the run's topic and extracts key findings."""

from __future__ import annotations

from handoffs.examples.content.corpus import corpus, search
from handoffs.examples.content.ranking import pick, rank
from handoffs.examples.text import number_word, terms
from handoffs.examples.upstream import run_input
from handoffs.messages import QualityMarkers, ResearchFindings, Result, Source, Task

__all__ = ["MAX_FINDINGS", "research"]

MAX_FINDINGS = 5


def research(task: Task) -> Result:
    """Research ``task.input["topic"]``: sources with excerpts, ranked findings, a confidence.

    After gate feedback about sources the search is broadened to near-miss topic keywords;
    a topic the corpus barely covers still comes back with what there is, and the gate decides.
    """
    topic = run_input(task, "topic")
    broad = any(
        fb.source == "gate" and "source" in f"{fb.aspect} {fb.issue}".lower()
        for fb in task.feedback
    )
    docs = search(topic, broad=broad)
    ranked = rank(docs, topic)
    findings = pick(ranked, MAX_FINDINGS)
    by_url = {doc.url: doc for doc in docs}
    sources = []
    for doc_sents in ranked:
        url = doc_sents[0].url
        # The excerpt quotes every sentence of this source used as a finding (at least one).
        used = [f.sentence for f in findings if f.url == url] or [doc_sents[0].sentence]
        sources.append(Source(url=url, title=by_url[url].title, excerpt=" ".join(used)))

    topic_terms = set(terms(topic))
    found_terms = {t for f in findings for t in terms(f.sentence)}
    coverage = len(topic_terms & found_terms) / len(topic_terms) if topic_terms else 0.0
    confidence = round(0.6 * min(len(sources) / 4, 1.0) + 0.4 * coverage, 2)
    known = {doc.url for doc in corpus()}
    count = number_word(len(sources))
    plural = len(sources) != 1
    summary = (
        f"{count.capitalize()} source{'s' if plural else ''} on {topic} "
        f"{'were' if plural else 'was'} reviewed; the findings are ranked by how strongly "
        "the sources agree on them."
        if sources
        else f"No sources on {topic} were found."
    )
    output = ResearchFindings(
        topic=topic,
        summary=summary,
        key_findings=[f.sentence for f in findings],
        sources=sources,
        confidence=confidence,
    )
    notes = f"{len(sources)} source(s), topic coverage {coverage:.0%}"
    quality = QualityMarkers(
        completeness=round(min(len(findings) / MAX_FINDINGS, 1.0), 2),
        confidence=confidence,
        sources_verified=bool(sources) and all(s.url in known for s in sources),
        checks={"multiple_sources": len(sources) >= 2, "topic_covered": coverage == 1.0},
        notes=notes + ("; search broadened after gate feedback" if broad else ""),
    )
    return Result(output, quality=quality)
