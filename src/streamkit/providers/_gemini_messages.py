"""Chat (OpenAI-style) messages converted into Gemini ``contents`` and ``systemInstruction``.

The ``gemini`` dialect accepts the same ``messages`` as the other dialects; this
module maps them onto the Gemini API's ``Content``/``Part`` objects
(https://ai.google.dev/api/caching#Content). Pure functions, no wire models.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["gemini_contents"]


def _parts(content: Any) -> list[dict[str, Any]]:
    """Chat message content → Gemini ``parts``."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}]
    if isinstance(content, Mapping):
        return [dict(content)]
    parts: list[dict[str, Any]] = []
    for part in content:
        if isinstance(part, str):
            parts.append({"text": part})
        elif isinstance(part, Mapping):
            kind = part.get("type")
            if kind == "text":
                parts.append({"text": part.get("text", "")})
            elif kind == "image_url":
                image = part.get("image_url")
                url = image.get("url") if isinstance(image, Mapping) else image
                match = re.match(r"data:([^;,]+);base64,(.*)", str(url), re.DOTALL)
                if match:
                    parts.append({"inlineData": {"mimeType": match[1], "data": match[2]}})
                else:
                    parts.append({"fileData": {"fileUri": url}})
            else:
                parts.append({k: v for k, v in part.items() if k != "type"})
    return parts


def gemini_contents(
    messages: Sequence[Mapping[str, Any]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Convert chat messages into Gemini ``contents`` and ``systemInstruction`` parts.

    ``user`` → role ``user``, ``assistant``/``model`` → role ``model``,
    ``system``/``developer`` → ``systemInstruction`` parts; string content becomes
    ``[{"text": ...}]`` and chat ``text``/``image_url`` parts become ``text``/
    ``inlineData``/``fileData`` parts. An assistant's ``tool_calls`` become
    ``functionCall`` parts, a ``tool`` message a ``functionResponse`` part (its
    ``name`` names the function; JSON-object content is the response, other content
    is wrapped as ``{"result": ...}``). A message that already has ``parts`` keeps
    them.

    Returns:
        ``(contents, system_parts)``.
    """
    contents: list[dict[str, Any]] = []
    system: list[dict[str, Any]] = []
    for message in messages:
        role = message.get("role")
        if role in ("system", "developer"):
            system.extend(_parts(message.get("content")))
            continue
        gemini_role = "model" if role in ("assistant", "model") else "user"
        if "parts" in message:
            contents.append({"role": gemini_role, "parts": list(message["parts"])})
            continue
        if role == "tool":
            raw = message.get("content")
            response: Any = raw
            if isinstance(raw, str):
                try:
                    response = json.loads(raw)
                except ValueError:
                    response = raw
            if not isinstance(response, dict):
                response = {"result": response}
            call: dict[str, Any] = {"name": message.get("name"), "response": response}
            contents.append({"role": "user", "parts": [{"functionResponse": call}]})
            continue
        parts = _parts(message.get("content"))
        for tool_call in message.get("tool_calls") or ():
            fn = tool_call.get("function") or {}
            arguments = fn.get("arguments") or "{}"
            try:
                args = json.loads(arguments) if isinstance(arguments, str) else arguments
            except ValueError:
                args = {}
            parts.append({"functionCall": {"name": fn.get("name"), "args": args}})
        contents.append({"role": gemini_role, "parts": parts})
    return contents, system
