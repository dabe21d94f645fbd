"""`kubectl auth whoami` and `auth can-i`: SelfSubjectReview and SelfSubjectAccessReview for the
authenticated caller, with JSON or protobuf bodies (kubectl sends protobuf when it can)."""

from __future__ import annotations

from typing import Final

from fastapi import APIRouter, Request, Response

from k3s_daas.kube import protobuf
from k3s_daas.kube.authz import self_review, user_info
from k3s_daas.kube.dependencies import Backend, Caller
from k3s_daas.kube.models import SelfSubjectAccessReview, SelfSubjectReview, SelfSubjectReviewStatus
from k3s_daas.kube.request_body import parse_json_object, read_body
from k3s_daas.kube.status import KubeRoute, StatusError, model_response
from k3s_daas.kube.types import BadRequest

PROTOBUF: Final = "application/vnd.kubernetes.protobuf"

router = APIRouter(route_class=KubeRoute)


async def _review_body(request: Request, limit: int) -> tuple[bytes, bool]:
    """The body and whether it is protobuf; any other media type is a 415."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in ("application/json", PROTOBUF):
        raise StatusError(415, f"unsupported media type {ctype[:80]!r}")
    return await read_body(request, limit), ctype == PROTOBUF


@router.post("/apis/authentication.k8s.io/v1/selfsubjectreviews", include_in_schema=False)
async def self_subject_review(request: Request, claims: Caller, backend: Backend) -> Response:
    body, is_protobuf = await _review_body(request, backend.max_body)
    if is_protobuf:
        protobuf.decode_self_subject_review(body)
    else:
        SelfSubjectReview.model_validate(parse_json_object(body))
    answer = SelfSubjectReview(status=SelfSubjectReviewStatus(userInfo=user_info(claims)))
    return model_response(answer, 201)


@router.post("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", include_in_schema=False)
async def self_subject_access_review(
    request: Request, claims: Caller, backend: Backend
) -> Response:
    body, is_protobuf = await _review_body(request, backend.max_body)
    if is_protobuf:
        review = protobuf.decode_self_subject_access_review(body)
    else:
        review = SelfSubjectAccessReview.model_validate(parse_json_object(body))
    spec = review.spec
    if (spec.resourceAttributes is None) == (spec.nonResourceAttributes is None):
        raise BadRequest("exactly one of resourceAttributes and nonResourceAttributes is needed")
    status = self_review(claims, spec.resourceAttributes, spec.nonResourceAttributes)
    answer = SelfSubjectAccessReview(spec=spec, status=status)
    return model_response(answer, 201)
