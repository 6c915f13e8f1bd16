"""Datasets: upload a CSV (managers) and read what was inferred from it (staff)."""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from predictor import selectors
from predictor.api import serializers as s
from predictor.api.permissions import StaffReadsManagersWrite
from predictor.services.registry import datasets


class DatasetViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Uploaded datasets with their inferred columns (staff)."""

    def get_queryset(self):
        return selectors.datasets()

    serializer_class = s.DatasetSerializer
    permission_classes = [StaffReadsManagersWrite]
    parser_classes = [MultiPartParser, FormParser]

    def get_serializer_class(self):
        # The list stays light; one dataset carries its profile per column.
        return s.DatasetDetailSerializer if self.action == "retrieve" else s.DatasetSerializer

    @extend_schema(
        request={"multipart/form-data": s.DatasetUploadSerializer},
        responses={201: s.DatasetDetailSerializer, 400: s.ErrorSerializer, 413: s.ErrorSerializer},
    )
    def create(self, request, *args, **kwargs):
        """Upload a CSV (multipart: name, file, optional target, default the last column)."""
        upload = s.DatasetUploadSerializer(data=request.data)
        upload.is_valid(raise_exception=True)
        dataset = datasets.dataset_create(user=request.user, **upload.validated_data)
        return Response(s.DatasetDetailSerializer(dataset).data, status=status.HTTP_201_CREATED)
