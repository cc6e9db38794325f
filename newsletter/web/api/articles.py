"""API resource: articles, imported (optionally published), read, published and withdrawn."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from newsletter.articles import store
from newsletter.articles.lookup import article_with_details
from newsletter.config import get_settings
from newsletter.models import ApiToken
from newsletter.web.api.auth import api_client, token_actor
from newsletter.web.api.fields import ArticleText, FileName, Slug, Source
from newsletter.web.api.responses import ERRORS, links
from newsletter.web.deps import Id, db_session

router = APIRouter(prefix="/api/v1", dependencies=[Depends(api_client)])


class ArticleIn(BaseModel):
    text: ArticleText = Field(
        description="The article: a saved web page, HTML, Markdown or plain text."
    )
    filename: FileName = Field("", description="Its file name, a hint to its format.")
    source: Source = Field("", description="Where it came from, e.g. its web address.")
    topics: list[Slug] | None = Field(
        None, max_length=20, description="Topic slugs to use instead of the suggested ones."
    )
    breaking: bool = Field(False, description="Send an alert to every subscriber of its topics.")
    publish: bool = Field(False, description="Publish at once (sends the alert).")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "text": "# NPQ applications open\n\nApplications for the NPQSL close on "
                    "15 January 2027.",
                    "filename": "npq.md",
                    "source": "https://news.example.org/npq",
                    "topics": ["npq"],
                    "publish": False,
                }
            ]
        }
    )


class TopicScore(BaseModel):
    topic: str
    score: float
    assigned: bool
    manual: bool
    evidence: list[Any]


class ArticleOut(BaseModel):
    id: int
    title: str
    status: str
    priority: str
    suggested_priority: str
    priority_reason: str
    published_at: str | None
    topics: list[str]
    topic_scores: list[TopicScore]
    url: str
    created: bool | None = None


def _article_out(session: Session, article_id: int, created: bool | None = None) -> ArticleOut:
    article = article_with_details(session, article_id)
    if article is None:
        raise HTTPException(404, f"There is no article {article_id}.")
    full = store.describe_full(article)
    return ArticleOut(
        **{key: full[key] for key in ArticleOut.model_fields if key in full},
        url=f"{get_settings().BASE_URL}/articles/{article.id}",
        created=created,
    )


@router.post(
    "/articles",
    response_model=ArticleOut,
    status_code=201,
    operation_id="create_article",
    responses=ERRORS
    | links(201, "article_id", "get_article", "publish_article", "withdraw_article"),
)
def create_article(
    body: ArticleIn,
    response: Response,
    token: ApiToken = Depends(api_client),
    session: Session = Depends(db_session),
) -> ArticleOut:
    """Import an article, optionally publishing it. The same content again is the same
    article: the answer is then 200 with `created` false."""
    try:
        outcome = store.import_article(
            session,
            body.text,
            filename=body.filename,
            source=body.source,
            topics=body.topics,
            breaking=body.breaking,
            publish=body.publish,
            actor=token_actor(token),
        )
    except store.ArticleError as exc:
        raise HTTPException(422, str(exc)) from None
    article_id = outcome.article.id
    session.commit()
    if not outcome.created:
        response.status_code = 200
    return _article_out(session, article_id, outcome.created)


@router.get(
    "/articles/{article_id}",
    response_model=ArticleOut,
    operation_id="get_article",
    responses=ERRORS,
)
def get_article(article_id: Id, session: Session = Depends(db_session)) -> ArticleOut:
    return _article_out(session, article_id)


@router.post(
    "/articles/{article_id}/publish",
    response_model=ArticleOut,
    operation_id="publish_article",
    responses=ERRORS,
)
def publish_article(
    article_id: Id,
    token: ApiToken = Depends(api_client),
    session: Session = Depends(db_session),
) -> ArticleOut:
    """Publish a draft (or withdrawn) article; its alert goes to the subscribers."""
    _article_out(session, article_id)  # 404 if missing
    store.publish_article(session, article_id, actor=token_actor(token))
    session.commit()
    return _article_out(session, article_id)


@router.post(
    "/articles/{article_id}/withdraw",
    response_model=ArticleOut,
    operation_id="withdraw_article",
    responses=ERRORS,
)
def withdraw_article(
    article_id: Id,
    token: ApiToken = Depends(api_client),
    session: Session = Depends(db_session),
) -> ArticleOut:
    """Withdraw an article; its sends that have not started are cancelled."""
    _article_out(session, article_id)
    store.withdraw_article(session, article_id, actor=token_actor(token))
    session.commit()
    return _article_out(session, article_id)
