"""Training jobs: start or cancel one (managers), follow it (staff)."""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from predictor import selectors
from predictor.api import serializers as s
from predictor.api.permissions import StaffReadsManagersWrite
from predictor.services import jobs, training


class TrainingJobViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Training jobs: start one (202) and poll its status and progress (staff)."""

    def get_queryset(self):
        return selectors.training_jobs()

    serializer_class = s.TrainingJobSerializer
    permission_classes = [StaffReadsManagersWrite]

    @extend_schema(
        request=s.TrainingRequestSerializer,
        # 429: the person's queued and running jobs are at their cap.
        responses={202: s.TrainingJobSerializer, 400: s.ErrorSerializer, 429: s.ErrorSerializer},
    )
    def create(self, request, *args, **kwargs):
        """Start training; answers 202 with the queued job."""
        body = s.TrainingRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        job = training.job_create(
            dataset=data.pop("dataset"),
            model_name=data.pop("model", None),
            user=request.user,
            **data,
        )
        return Response(s.TrainingJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        request=None,
        responses={202: s.TrainingJobSerializer, 404: s.ErrorSerializer, 409: s.ErrorSerializer},
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Cancel a queued or running job (its worker stops it); 409 once it has ended."""
        job = jobs.job_cancel(job=self.get_object(), user=request.user)
        return Response(s.TrainingJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)
