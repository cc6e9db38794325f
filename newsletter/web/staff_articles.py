"""(being written)"""

from fastapi import APIRouter

from newsletter.web.auth import STAFF_ONLY

router = APIRouter(prefix="/staff", include_in_schema=False, dependencies=STAFF_ONLY)
