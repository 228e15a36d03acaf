"""Customer service -> knowledge base: resolve inquiries, turn documentation gaps into articles."""

from handoffs.examples.support.article_review import review_article
from handoffs.examples.support.articles import write_article
from handoffs.examples.support.resolver import resolve

__all__ = ["resolve", "review_article", "write_article"]
