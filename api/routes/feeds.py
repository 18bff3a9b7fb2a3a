"""``/feeds``: the feeds the service follows (``qa.intake.feeds``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response
from starlette.concurrency import run_in_threadpool

from api.deps import WRITE, errors_of
from qa.intake.feeds import Feeds
from qa.schemas import FeedIn, FeedList, FeedOut

router = APIRouter(tags=["feeds"])
FeedId = Annotated[str, Path(pattern=r"^[0-9a-f]{12}$", description="as POST /feeds returned it")]


def get_feeds(request: Request) -> Feeds:
    feeds: Feeds = request.app.state.feeds
    return feeds


FeedsDep = Annotated[Feeds, Depends(get_feeds)]
_ERRORS = errors_of(400, 401, 404)


@router.post("/feeds", response_model=FeedOut, status_code=201, dependencies=WRITE, responses=_ERRORS)
async def follow(feeds: FeedsDep, body: FeedIn, response: Response) -> FeedOut:
    """Follow a feed: it is read within seconds, then every `interval_s` (conditional GET,
    backing off on errors); its new entries are added, changed ones replaced. Only public
    http(s) addresses are fetched. 200 (not 201) when the URL was followed already: its
    interval is updated."""
    feed, new = await run_in_threadpool(feeds.follow, body.url, body.interval_s)
    if not new:
        response.status_code = 200
    return FeedOut(**feed.public())


@router.get("/feeds", response_model=FeedList, responses=_ERRORS)
def list_feeds(feeds: FeedsDep) -> FeedList:
    """The followed feeds, each with when it was last read, its last new entry, its entries
    and its last error."""
    return FeedList(feeds=[FeedOut(**f.public()) for f in feeds.followed()])


@router.get("/feeds/{feed_id}", response_model=FeedOut, responses=_ERRORS)
def get_feed(feeds: FeedsDep, feed_id: FeedId) -> FeedOut:
    """One followed feed and how its reads went."""
    return FeedOut(**feeds.get(feed_id).public())


@router.delete("/feeds/{feed_id}", status_code=204, dependencies=WRITE, responses=_ERRORS)
def unfollow(feeds: FeedsDep, feed_id: FeedId) -> Response:
    """Stop following a feed (its entries stay)."""
    feeds.unfollow(feed_id)
    return Response(status_code=204)
