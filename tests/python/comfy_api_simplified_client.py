"""Drives Gantry's virtual ComfyUI with comfy-api-simplified (PyPI), unmodified, as its
users do: upload an image, queue a workflow that loads, inverts and saves it, wait for it
on the WebSocket, read the history, download the result, interrupt a slow prompt; then
what a second user sees.

Usage: comfy_api_simplified_client.py URL USER PASSWORD OTHER_USER OTHER_PASSWORD
Prints one JSON line with what happened (the image base64-encoded).
"""

import asyncio
import base64
import json
import os
import struct
import sys
import tempfile
import time
import zlib

from comfy_api_simplified import ComfyApiWrapper, ComfyWorkflowWrapper
from comfy_api_simplified.exceptions import ComfyApiError


def png(width, height, rgb):
    """A solid-colour RGB PNG."""

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(row * height)) + chunk(b"IEND", b""))


def workflow(image_name):
    return ComfyWorkflowWrapper({
        "1": {"class_type": "LoadImage", "inputs": {"image": image_name}, "_meta": {"title": "Load"}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}, "_meta": {"title": "Invert"}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "py"},
              "_meta": {"title": "Save Image"}},
    })


def main():
    url, user, password, other_user, other_password = sys.argv[1:6]
    api = ComfyApiWrapper(url, user, password)
    outcome = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "red.png")
        with open(path, "wb") as f:
            f.write(png(8, 8, (255, 0, 0)))
        uploaded = api.upload_image(path)
        outcome["uploaded"] = uploaded

    # The library's one-call path: queue, wait on the WebSocket, read the history, download.
    images = api.queue_and_wait_images(workflow(uploaded["name"]), "Save Image")
    outcome["images"] = {name: base64.b64encode(data).decode() for name, data in images.items()}

    # The same steps one by one, keeping the prompt id.
    prompt_id, _ = asyncio.run(api.queue_prompt_and_wait(workflow(uploaded["name"])))
    history = api.get_history(prompt_id)
    outcome["prompt_id"] = prompt_id
    outcome["status"] = history[prompt_id]["status"]["status_str"]
    output = history[prompt_id]["outputs"]["3"]["images"][0]
    outcome["queue"] = api.get_queue()
    outcome["object_info"] = sorted(api.get_object_info().keys())[:3]
    outcome["devices"] = len(api.get_system_stats()["devices"])

    # A slow prompt, interrupted once it runs: its entry says so.
    tiled = {"tile_size": 64, "overlap": 0, "temporal_size": 64, "temporal_overlap": 8, "vae": ["2", 0]}
    slow = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 4096, "height": 4096, "batch_size": 1, "color": 9}},
        "2": {"class_type": "VAELoader", "inputs": {"vae_name": "pixel_space"}},
        "3": {"class_type": "VAEEncodeTiled", "inputs": {**tiled, "pixels": ["1", 0]}},
        "4": {"class_type": "VAEDecodeTiled", "inputs": {**tiled, "samples": ["3", 0]}},
        "5": {"class_type": "SaveImage", "inputs": {"images": ["4", 0], "filename_prefix": "slow"}},
    }
    stopped = api.queue_prompt(slow)["prompt_id"]
    deadline = time.monotonic() + 60
    while api.get_queue_size_before(stopped) != 0:
        if time.monotonic() > deadline:
            raise SystemExit("the slow prompt never ran")
        time.sleep(0.05)
    api.interrupt()
    while not api.get_history(stopped) and time.monotonic() < deadline:
        time.sleep(0.05)
    outcome["interrupted"] = api.get_history(stopped)[stopped]["status"]["messages"][-1][0]

    # Another user: no history entry, no file, not even with the names in hand.
    other = ComfyApiWrapper(url, other_user, other_password)
    outcome["other_history"] = other.get_history(prompt_id)
    try:
        other.get_image(output["filename"], output["subfolder"], output["type"])
        outcome["other_image"] = "downloaded"
    except ComfyApiError as e:
        outcome["other_image"] = str(e)
    print(json.dumps(outcome))


if __name__ == "__main__":
    main()
