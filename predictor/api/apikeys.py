"""Scoped API keys (managers): create one (its key shown only in this answer), list; revoke
(its maker or a superuser)."""

from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers, status, viewsets
from rest_framework.response import Response

from predictor.api.permissions import IsManager
from predictor.api.serializers import ErrorSerializer, StrictCharField
from predictor.services import apikeys


class ApiKeySerializer(serializers.Serializer):
    id = serializers.CharField(source="prefix", read_only=True)
    name = serializers.CharField(read_only=True)
    prefix = serializers.CharField(read_only=True)
    models = serializers.ListField(
        source="model_names", child=serializers.CharField(), read_only=True
    )
    expires_at = serializers.DateTimeField(source="expiry_date", read_only=True, allow_null=True)
    last_used = serializers.DateTimeField(read_only=True, allow_null=True)
    revoked = serializers.BooleanField(read_only=True)
    created_by = serializers.CharField(source="created_by.username", read_only=True)
    created_at = serializers.DateTimeField(source="created", read_only=True)


class ApiKeyCreateSerializer(serializers.Serializer):
    name = StrictCharField(max_length=50)
    models = serializers.ListField(
        child=StrictCharField(max_length=100), required=False, default=list, max_length=1000
    )
    expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)


class ApiKeyCreatedSerializer(ApiKeySerializer):
    key = serializers.CharField(read_only=True, help_text="Shown only in this answer.")


class ApiKeyViewSet(viewsets.ViewSet):
    """Scoped API keys: `Authorization: Api-Key <key>` predicts and reads model metadata."""

    permission_classes = [IsManager]
    lookup_value_regex = "[A-Za-z0-9]+"

    @extend_schema(responses={200: ApiKeySerializer(many=True)})
    def list(self, request):
        return Response(ApiKeySerializer(apikeys.keys(), many=True).data)

    @extend_schema(
        request=ApiKeyCreateSerializer,
        responses={201: ApiKeyCreatedSerializer, 400: ErrorSerializer},
    )
    def create(self, request):
        body = ApiKeyCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        key, raw = apikeys.key_create(user=request.user, **body.validated_data)
        data = {**ApiKeySerializer(key).data, "key": raw}
        return Response(data, status=status.HTTP_201_CREATED)

    def get_permissions(self):
        # Revoking is its maker's or a superuser's (the service decides), manager or not:
        # someone whose manager rights were taken away can still revoke their own key.
        if self.action == "destroy":
            return [permissions.IsAdminUser()]
        return super().get_permissions()

    @extend_schema(request=None, responses={204: None, 403: ErrorSerializer, 404: ErrorSerializer})
    def destroy(self, request, pk=None):
        apikeys.key_revoke(prefix=pk, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
