"""Who may call an API view: staff read, managers write (THE rule: `services.access`)."""

from rest_framework.permissions import SAFE_METHODS, BasePermission

from predictor.services import access


class IsManager(BasePermission):
    """Managers only (403 with the reason for anyone else who is logged in)."""

    def has_permission(self, request, view):
        if not access.is_authenticated(user=request.user):
            return False  # DRF answers 401 (or 403 without an authentication header)
        access.manage_check(user=request.user)
        return True


class StaffReadsManagersWrite(IsManager):
    """GET, HEAD and OPTIONS for staff; every other method for managers."""

    def has_permission(self, request, view):
        if request.method in SAFE_METHODS:
            return access.is_staff(user=request.user)
        return super().has_permission(request, view)
