"""The API's routes by resource, each an ``APIRouter`` that ``api.app`` includes."""
