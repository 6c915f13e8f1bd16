"""POST /api/auth/token/: a username and password in, the user's own DRF token out."""

from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from predictor.api.serializers import ErrorSerializer, StrictCharField
from predictor.services import account_tokens
from predictor.services.errors import InvalidInput


class TokenRequestSerializer(serializers.Serializer):
    username = StrictCharField(max_length=150)
    password = StrictCharField(max_length=4096, trim_whitespace=False)


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Send it as `Authorization: Token <token>`.")


class ObtainToken(APIView):
    """The caller's own token (made on first use), for `Authorization: Token <key>`. Counts
    towards the login limits like any login: past them, 429."""

    authentication_classes: list = []  # the credentials are in the body, nothing else
    permission_classes = [permissions.AllowAny]

    @extend_schema(
        operation_id="auth_token_create",
        tags=["auth"],
        request=TokenRequestSerializer,
        responses={200: TokenSerializer, 400: ErrorSerializer, 429: ErrorSerializer},
    )
    def post(self, request):
        given = TokenRequestSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        try:
            token = account_tokens.token_obtain(
                request=request._request,  # axes marks the Django request it counts
                username=given.validated_data["username"],
                password=given.validated_data["password"],
            )
        except InvalidInput as exc:
            raise serializers.ValidationError({"non_field_errors": [exc.message]}) from None
        return Response({"token": token.key})
