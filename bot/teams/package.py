"""`whoowns teams-package`: the Teams app package (manifest with the bot's app id, and icons) as a zip."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

TEAMS_DIR = Path(__file__).resolve().parents[2] / "teams"
PLACEHOLDER = "{{MICROSOFT_APP_ID}}"
_APP_ID = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)


class PackageError(ValueError):
    pass


def build_package(app_id: str, out: Path, source: Path = TEAMS_DIR) -> dict[str, object]:
    """Write the zip to upload in Teams; returns the manifest it holds."""
    if not _APP_ID.match(app_id):
        raise PackageError(
            f"--app-id must be the Azure Bot's Microsoft App ID (a GUID), not {app_id!r}"
        )
    try:
        template = (source / "manifest.json").read_text(encoding="utf-8")
    except OSError as exc:
        raise PackageError(f"cannot read the manifest template in {source}: {exc}") from exc
    manifest = json.loads(template.replace(PLACEHOLDER, app_id))
    icons = manifest["icons"]
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as package:
        package.writestr("manifest.json", json.dumps(manifest, indent=2))
        for name in (icons["color"], icons["outline"]):
            package.write(source / name, arcname=name)
    return dict(manifest)
