"""The vendored htmx matches its manifest, and scripts/vendor_htmx.py notices every kind of drift."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from scripts.vendor_htmx import (
    MANIFEST_NAME,
    ROOT,
    TEMPLATE,
    VENDOR_DIR,
    VendorError,
    check_against_tarball,
    check_folder,
    check_template,
    extract_members,
    update,
    verify_tarball,
)

MANIFEST = json.loads((VENDOR_DIR / MANIFEST_NAME).read_text(encoding="utf-8"))
VERSION = MANIFEST["version"]
SCRIPT = f"htmx-{VERSION}.min.js"


@pytest.fixture
def vendor_copy(tmp_path: Path) -> Path:
    """A copy of the committed vendor folder that a test may damage."""
    copy = tmp_path / "htmx"
    shutil.copytree(VENDOR_DIR, copy)
    return copy


def flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "scripts/vendor_htmx.py", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# The committed folder ----------------------------------------------------------------------------


def test_committed_folder_passes_check() -> None:
    assert check_folder(VENDOR_DIR) == []


def test_committed_folder_passes_check_on_the_command_line() -> None:
    result = run_cli("check")
    assert result.returncode == 0, result.stderr
    assert "every file matches" in result.stdout


def test_base_template_loads_the_vendored_file() -> None:
    assert check_template(TEMPLATE, VERSION) == []
    assert f"vendor/htmx/{SCRIPT}" in TEMPLATE.read_text(encoding="utf-8")


def test_manifest_hashes_equal_independently_computed_ones() -> None:
    data = (VENDOR_DIR / SCRIPT).read_bytes()
    expected_sri = "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()
    assert MANIFEST["files"][SCRIPT]["sha384"] == expected_sri
    assert MANIFEST["files"][SCRIPT]["sha256"] == hashlib.sha256(data).hexdigest()


def test_manifest_records_the_npm_source_without_addresses() -> None:
    assert MANIFEST["package"] == "htmx.org"
    assert MANIFEST["files"][SCRIPT]["from"] == "dist/htmx.min.js"
    assert MANIFEST["files"]["LICENSE"]["from"] == "LICENSE"
    assert MANIFEST["tarball_integrity"].startswith("sha512-")
    assert "://" not in json.dumps(MANIFEST)


# Drift that check must catch ---------------------------------------------------------------------


@pytest.mark.parametrize("name", [SCRIPT, "LICENSE"])
def test_tampered_file_fails_naming_the_file(vendor_copy: Path, name: str) -> None:
    flip_a_byte(vendor_copy / name)
    problems = check_folder(vendor_copy)
    assert [problem.split(":")[0] for problem in problems] == [name, name]  # sha384 and sha256
    assert "sha384 does not match" in problems[0]


def test_tampered_file_fails_on_the_command_line(vendor_copy: Path) -> None:
    flip_a_byte(vendor_copy / SCRIPT)
    result = run_cli("--folder", str(vendor_copy), "check")
    assert result.returncode == 1
    assert f"error: {SCRIPT}: sha384 does not match" in result.stderr


@pytest.mark.parametrize("extra", ["analytics.js", "htmx-3.9.9.min.js", "ext/sse.js"])
def test_unlisted_javascript_fails(vendor_copy: Path, extra: str) -> None:
    (vendor_copy / extra).parent.mkdir(exist_ok=True)
    (vendor_copy / extra).write_text("console.log('not reviewed')\n", encoding="utf-8")
    assert check_folder(vendor_copy) == [
        f"{extra}: not listed in {MANIFEST_NAME} (delete it, or vendor it with this script)"
    ]


def test_manifest_version_missing_from_file_name_fails(vendor_copy: Path) -> None:
    manifest = json.loads((vendor_copy / MANIFEST_NAME).read_text(encoding="utf-8"))
    manifest["version"] = "9.9.9"
    (vendor_copy / MANIFEST_NAME).write_text(json.dumps(manifest), encoding="utf-8")
    problems = check_folder(vendor_copy)
    assert f"{SCRIPT}: file name does not carry the manifest version 9.9.9 (expected htmx-9.9.9.min.js)" in (
        problems
    )
    assert f"{MANIFEST_NAME}: does not list htmx-9.9.9.min.js, which version 9.9.9 needs" in problems


def test_renamed_script_fails(vendor_copy: Path) -> None:
    (vendor_copy / SCRIPT).rename(vendor_copy / "htmx-9.9.9.min.js")
    assert check_folder(vendor_copy) == [
        f"{SCRIPT}: listed in {MANIFEST_NAME} but missing from the folder",
        f"htmx-9.9.9.min.js: not listed in {MANIFEST_NAME} (delete it, or vendor it with this script)",
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, f"{MANIFEST_NAME}: missing from"),
        ("{not json", f"{MANIFEST_NAME}: not valid JSON"),
        ('{"version": "latest", "files": {}}', f"{MANIFEST_NAME}: needs a `version`"),
    ],
)
def test_unreadable_manifest_fails(vendor_copy: Path, content: str | None, message: str) -> None:
    manifest = vendor_copy / MANIFEST_NAME
    if content is None:
        manifest.unlink()
    else:
        manifest.write_text(content, encoding="utf-8")
    [problem] = check_folder(vendor_copy)
    assert problem.startswith(message)


def test_template_loading_another_version_fails(tmp_path: Path) -> None:
    template = tmp_path / "base.html"
    template.write_text('<script src="/static/vendor/htmx/htmx-3.9.9.min.js"></script>', encoding="utf-8")
    [problem] = check_template(template, VERSION)
    assert f"loads vendor/htmx/htmx-3.9.9.min.js, but the vendored file is {SCRIPT}" in problem


# Tarball verification and extraction (update, without the network) ------------------------------

FAKE_SCRIPT = b"/* pretend htmx 9.9.9 */\n"
FAKE_LICENSE = b"Zero-Clause BSD (test copy)\n"


def build_tarball(path: Path, files: dict[str, bytes], links: dict[str, str] | None = None) -> Path:
    """A gzipped tarball at PATH with regular FILES and symbolic LINKS (name -> target)."""
    with tarfile.open(path, "w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            archive.addfile(info)
    return path


def npm_like_tarball(tmp_path: Path) -> Path:
    return build_tarball(
        tmp_path / "htmx.org-9.9.9.tgz",
        {
            "package/dist/htmx.min.js": FAKE_SCRIPT,
            "package/LICENSE": FAKE_LICENSE,
            "package/README.md": b"hi",
        },
    )


def integrity_of(path: Path) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(path.read_bytes()).digest()).decode()


def test_verify_tarball_accepts_its_own_integrity(tmp_path: Path) -> None:
    tarball = npm_like_tarball(tmp_path)
    verify_tarball(tarball, integrity_of(tarball))
    verify_tarball(tarball, f"sha1-bm90IGNoZWNrZWQ= {integrity_of(tarball)}")  # SRI may list several


def test_verify_tarball_rejects_other_bytes(tmp_path: Path) -> None:
    tarball = npm_like_tarball(tmp_path)
    other = build_tarball(tmp_path / "other.tgz", {"package/LICENSE": b"something else"})
    with pytest.raises(VendorError, match="integrity mismatch"):
        verify_tarball(tarball, integrity_of(other))


def test_verify_tarball_needs_a_sha512(tmp_path: Path) -> None:
    with pytest.raises(VendorError, match="no sha512 entry"):
        verify_tarball(npm_like_tarball(tmp_path), "sha1-bm90IGNoZWNrZWQ=")


def test_extract_writes_only_the_requested_members(tmp_path: Path) -> None:
    tarball = build_tarball(
        tmp_path / "evil.tgz", {"package/LICENSE": FAKE_LICENSE, "../escaped.js": b"alert(1)"}
    )
    destination = tmp_path / "out"
    extracted = extract_members(tarball, ["package/LICENSE"], destination)
    assert extracted["package/LICENSE"].read_bytes() == FAKE_LICENSE
    assert [path.name for path in destination.rglob("*") if path.is_file()] == ["LICENSE"]
    assert not (tmp_path / "escaped.js").exists()


@pytest.mark.parametrize("target", ["/etc/passwd", "../../../etc/passwd"])
def test_extract_refuses_a_link_in_place_of_a_file(tmp_path: Path, target: str) -> None:
    tarball = build_tarball(tmp_path / "links.tgz", {}, links={"package/LICENSE": target})
    with pytest.raises(VendorError, match="not a regular file"):
        extract_members(tarball, ["package/LICENSE"], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_extract_reports_a_missing_member(tmp_path: Path) -> None:
    tarball = build_tarball(tmp_path / "empty.tgz", {"package/README.md": b"hi"})
    with pytest.raises(VendorError, match=r"has no package/dist/htmx\.min\.js"):
        extract_members(tarball, ["package/dist/htmx.min.js"], tmp_path / "out")


def test_update_replaces_files_manifest_and_template(vendor_copy: Path, tmp_path: Path) -> None:
    tarball = npm_like_tarball(tmp_path)
    template = tmp_path / "base.html"
    template.write_text(f"<script src=\"{{{{ static_url('vendor/htmx/{SCRIPT}') }}}}\"></script>\n")

    notes = update(
        "9.9.9", vendor_copy, template, fetch=lambda version, workdir: (tarball, integrity_of(tarball))
    )

    assert (vendor_copy / "htmx-9.9.9.min.js").read_bytes() == FAKE_SCRIPT
    assert (vendor_copy / "LICENSE").read_bytes() == FAKE_LICENSE
    assert not (vendor_copy / SCRIPT).exists()
    manifest = json.loads((vendor_copy / MANIFEST_NAME).read_text(encoding="utf-8"))
    assert (manifest["version"], manifest["tarball_integrity"]) == ("9.9.9", integrity_of(tarball))
    assert check_folder(vendor_copy) == []
    assert check_against_tarball(vendor_copy, tarball) == []
    assert check_template(template, "9.9.9") == []
    assert "vendor/htmx/htmx-9.9.9.min.js" in notes[-1]


def test_update_with_a_bad_tarball_leaves_the_folder_alone(vendor_copy: Path, tmp_path: Path) -> None:
    tarball = npm_like_tarball(tmp_path)
    other = build_tarball(tmp_path / "other.tgz", {"package/LICENSE": b"something else"})
    with pytest.raises(VendorError, match="integrity mismatch"):
        update("9.9.9", vendor_copy, TEMPLATE, fetch=lambda version, workdir: (tarball, integrity_of(other)))
    assert check_folder(vendor_copy) == []
    assert (vendor_copy / SCRIPT).exists()


@pytest.mark.parametrize("version", ["latest", "^4.0.0", "4.0", "../4.0.1", "4.0.1 --registry=x"])
def test_update_wants_an_exact_version(vendor_copy: Path, version: str) -> None:
    def no_fetch(version: str, workdir: Path) -> tuple[Path, str]:
        raise AssertionError("must not reach npm")

    with pytest.raises(VendorError, match="not an exact version"):
        update(version, vendor_copy, TEMPLATE, fetch=no_fetch)


def test_check_against_a_different_tarball_fails(tmp_path: Path) -> None:
    [problem] = check_against_tarball(VENDOR_DIR, npm_like_tarball(tmp_path))
    assert "integrity mismatch" in problem
