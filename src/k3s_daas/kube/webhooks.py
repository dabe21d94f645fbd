"""kube-apiserver webhooks: TokenReview v1 turns a Seal token into a Kubernetes user;
SubjectAccessReview v1 allows what that user's Seal permissions grant, denies outright the kubelet
of a node the master revoked (so it must run first in the authorizer chain), and otherwise has no
opinion.

Answers echo the request's `spec` (the `kubernetes` models and some clients require it) and a
malformed review is a 400 Status; an invalid token is a 200 with `authenticated: false`. The
routes carry no bearer-token check (kube-apiserver is the caller, authenticated by the listener's
mTLS); the token under review is checked by the app's `KubeBackend.auth`.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Final

from fastapi import APIRouter, Request, Response

from k3s_daas.kube.authz import NODE_PREFIX, revoked_node_review, user_info, webhook_review
from k3s_daas.kube.dependencies import OptionalNodes, backend_of
from k3s_daas.kube.models import (
    SubjectAccessReview,
    TokenReview,
    TokenReviewSpec,
    TokenReviewStatus,
)
from k3s_daas.kube.request_body import parse_json_object, read_body
from k3s_daas.kube.status import KubeRoute, as_status, model_response
from k3s_daas.kube.types import AuthenticationFailed, BadRequest
from k3s_daas.log import get_logger
from k3s_daas.seal import Claims, K3sDaasError

log = get_logger("k3s_daas.kube.webhooks")

TOKENREVIEW_PATH: Final = "/apis/webhooks/tokenreview"
SUBJECTACCESSREVIEW_PATH: Final = "/apis/webhooks/subjectaccessreview"
MAX_REVIEW_BODY: Final = 64 * 1024
#: Where each answer leaves (review, decision) in the request's state, for the host's metrics.
DECISION_STATE: Final = "webhook_decision"

router = APIRouter(route_class=KubeRoute)


@lru_cache(maxsize=1024)
def _authenticated(claims: Claims) -> TokenReviewStatus:
    """The answer for valid `claims` (frozen, so hashable): built once per token while it is warm;
    shared, never mutated."""
    return TokenReviewStatus(authenticated=True, user=user_info(claims))


async def _token_review(request: Request) -> Response:
    """TokenReview, kube-apiserver's call for every request it authenticates: a plain Starlette
    endpoint (`token_review`), so FastAPI's dependency solving is skipped, and the answer is
    serialized once by pydantic-core; errors are Status all the same. No per-review log line:
    the decision is counted by the host (`DECISION_STATE`), and the validator logs refusals."""
    auth = backend_of(request).auth
    review = TokenReview.model_validate(
        parse_json_object(await read_body(request, MAX_REVIEW_BODY))
    )
    token = review.spec.token
    status: TokenReviewStatus
    decision = "unauthenticated"
    try:
        if not token:
            raise AuthenticationFailed("empty token", reason="no_token")
        claims = await auth.authenticate(token)
        status = _authenticated(claims)
        decision = "authenticated"
    except AuthenticationFailed as exc:
        status = TokenReviewStatus(authenticated=False, error=exc.reason)
    except K3sDaasError as exc:  # chain unreachable etc.: fail closed, say why
        log.warning("tokenreview_unavailable", reason=exc.reason)
        status = TokenReviewStatus(authenticated=False, error=f"unavailable: {exc.reason}")
        decision = "unavailable"
    request.scope.setdefault("state", {})[DECISION_STATE] = ("tokenreview", decision)
    # Echo the spec without the token: the response needs no secret in it.
    spec = TokenReviewSpec(audiences=review.spec.audiences)
    answer = TokenReview(
        apiVersion="authentication.k8s.io/v1", kind="TokenReview", spec=spec, status=status
    )
    return Response(
        answer.model_dump_json(by_alias=True, exclude_none=True), media_type="application/json"
    )


#: `POST /apis/webhooks/tokenreview` (see `_token_review`), the router's first route.
token_review = as_status(_token_review)
router.add_route(TOKENREVIEW_PATH, token_review, methods=["POST"], include_in_schema=False)


@router.post(SUBJECTACCESSREVIEW_PATH, include_in_schema=False)
async def subject_access_review(request: Request, nodes: OptionalNodes) -> Response:
    """`nodes` (the master's registry) lets this deny revoked nodes' kubelets."""
    body = parse_json_object(await read_body(request, MAX_REVIEW_BODY))
    review = SubjectAccessReview.model_validate(body)
    spec = review.spec
    if (spec.resourceAttributes is None) == (spec.nonResourceAttributes is None):
        raise BadRequest("exactly one of resourceAttributes and nonResourceAttributes is needed")
    status = None
    if nodes is not None and spec.user.startswith(NODE_PREFIX):
        node = await nodes.get_node(spec.user.removeprefix(NODE_PREFIX))
        status = revoked_node_review(spec.user, node)
    if status is None:
        status = webhook_review(
            spec.user, spec.groups or [], spec.extra or {}, spec.resourceAttributes
        )
    decision = "allowed" if status.allowed else "denied" if status.denied else "no_opinion"
    setattr(request.state, DECISION_STATE, ("subjectaccessreview", decision))
    answer = SubjectAccessReview(
        apiVersion="authorization.k8s.io/v1",
        kind="SubjectAccessReview",
        spec=spec,
        status=status,
    )
    return model_response(answer)
