"""The IM robots' requests, captured at the HTTP transport Apprise uses, against each service's documented shape.

Documented facts checked (docs/alerts.md, "Channels"): WeCom posts `{"msgtype": "text", "text":
{"content": …}}` to /cgi-bin/webhook/send?key=…, content at most 2048 UTF-8 bytes; DingTalk posts
`{"msgtype": "text", "text": {"content": …}}` to /robot/send?access_token=…, with `timestamp` (ms)
and `sign` = URL-encoded once Base64(HMAC-SHA256(secret, "<timestamp>\\n<secret>")); Feishu posts
`{"msg_type": "text", "content": {"text": …}}` to /open-apis/bot/v2/hook/<token>, body under
20 KB; a Slack incoming webhook takes JSON whose attachment carries the text; a Teams workflow
(Power Automate's "when a Teams webhook request is received") takes `{"type": "message",
"attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "content": <an
AdaptiveCard: "$schema", "type", "version", "body" of TextBlocks>}]}` at its trigger address,
query (api-version, sp, sv, sig) kept.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from alerts import channels
from alerts.channels import DeliveryError, Guard, Message

TEAMS_HOST = "prod-161.westeurope.logic.azure.com"
VENDORS = ("qyapi.weixin.qq.com", "oapi.dingtalk.com", "open.feishu.cn", "hooks.slack.com", TEAMS_HOST)
GUARD = Guard(VENDORS)  # named hosts pass the guard without a lookup (the sandbox has no DNS)
LONG = Message("[Baton] 工作流 nightly 失败", "\n".join(f"第 {i} 行：磁盘已满 disk full" for i in range(3000)))


@pytest.fixture
def captured(monkeypatch):
    """Record every request `requests` would send and answer it as the service does on success."""
    sent: list[requests.PreparedRequest] = []

    def send(adapter, request, **kwargs):
        sent.append(request)
        response = requests.Response()
        response.status_code = 200
        response._content = b"ok" if "slack" in request.url else b'{"errcode": 0, "errmsg": "ok", "code": 0}'
        response.url, response.request = request.url, request
        return response

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", send)
    return sent


def _json(request: requests.PreparedRequest) -> dict:
    body = request.body.decode("utf-8") if isinstance(request.body, bytes) else request.body
    return json.loads(body)


def _size(request: requests.PreparedRequest) -> int:
    return len(request.body if isinstance(request.body, bytes) else request.body.encode("utf-8"))


def test_wecom_posts_text_content_within_2048_bytes(captured):
    channels.find("wecom").send({"key": "693a91f6-key"}, LONG, GUARD)
    (request,) = captured
    url = urlsplit(request.url)
    assert (request.method, url.scheme, url.netloc, url.path) == ("POST", "https", VENDORS[0], "/cgi-bin/webhook/send")
    assert parse_qs(url.query) == {"key": ["693a91f6-key"]}
    payload = _json(request)
    assert set(payload) == {"msgtype", "text"} and payload["msgtype"] == "text"
    content = payload["text"]["content"]
    assert content.startswith("[Baton] 工作流 nightly 失败") and len(content.encode("utf-8")) <= 2048


def test_dingtalk_posts_text_signed_as_documented(captured):
    secret = "SEC0123456789abcdef"
    before = int(time.time() * 1000)
    channels.find("dingtalk").send({"token": "abc123def", "secret": secret}, LONG, GUARD)
    (request,) = captured
    url = urlsplit(request.url)
    assert (url.netloc, url.path) == (VENDORS[1], "/robot/send")
    query = parse_qs(url.query)  # decodes once, as the server does
    assert query["access_token"] == ["abc123def"]
    timestamp = query["timestamp"][0]
    assert before <= int(timestamp) <= int(time.time() * 1000)
    expected = base64.b64encode(hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest())
    assert query["sign"] == [expected.decode()]
    payload = _json(request)
    assert payload["msgtype"] == "text" and payload["text"]["content"].startswith("[Baton]")
    assert _size(request) < 20_000


def test_dingtalk_without_a_secret_sends_no_signature(captured):
    channels.find("dingtalk").send({"token": "abc123def"}, Message("s", "t"), GUARD)
    assert set(parse_qs(urlsplit(captured[0].url).query)) == {"access_token"}


def test_feishu_posts_text_content_under_20_kb(captured):
    channels.find("feishu").send({"token": "0b1c2d3e-token"}, LONG, GUARD)
    (request,) = captured
    url = urlsplit(request.url)
    assert url.netloc == VENDORS[2] and url.path.rstrip("/") == "/open-apis/bot/v2/hook/0b1c2d3e-token"
    payload = _json(request)
    assert payload["msg_type"] == "text" and payload["content"]["text"].startswith("[Baton] 工作流")
    assert _size(request) < 20 * 1024


def test_slack_posts_the_text_to_the_webhook_address(captured):
    address = "https://hooks.slack.com/services/T0001/B0002/secretpart"
    channels.find("slack").send({"webhook_url": address}, LONG, GUARD)
    (request,) = captured
    assert request.url == address and request.method == "POST"
    attachment = _json(request)["attachments"][0]
    assert attachment["text"].startswith("[Baton] 工作流") and len(attachment["text"].encode("utf-8")) <= 3000


def test_teams_posts_an_adaptive_card_to_the_workflows_trigger(captured):
    query = "api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=KODuebWbDGYFr0z0eu-6Rj8aUKz7108W3wrNJZx"
    path = "/workflows/643e69f83c8944438d68119179a10a64/triggers/manual/paths/invoke"
    channels.find("teams").send({"url": f"https://{TEAMS_HOST}:443{path}?{query}"}, LONG, GUARD)
    (request,) = captured
    url = urlsplit(request.url)
    assert (request.method, url.scheme, url.hostname, url.path) == ("POST", "https", TEAMS_HOST, path)
    assert parse_qs(url.query) == parse_qs(query)  # the signature travels in the query, unchanged
    assert request.headers["Content-Type"].startswith("application/json")
    payload = _json(request)
    assert payload["type"] == "message"
    (attachment,) = payload["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    assert card["version"] in {"1.0", "1.2", "1.3", "1.4", "1.5"}
    blocks = [block for block in card["body"] if block["type"] == "TextBlock"]
    assert len(blocks) == len(card["body"]) == 1  # no image, no title block: the subject leads the text
    assert blocks[0]["text"].startswith("[Baton] 工作流 nightly 失败\n第 0 行") and blocks[0]["wrap"] is True
    assert len(blocks[0]["text"]) <= 1000


def test_a_robot_at_a_private_address_is_refused_before_any_request(captured):
    with pytest.raises(DeliveryError, match=r"refused: 10\.1\.2\.3 \(private\).*BATON_HTTP_ALLOWED_NETWORKS"):
        channels.find("teams").send({"url": "https://10.1.2.3/workflows/x/triggers/manual"}, LONG, Guard())
    assert captured == []


def test_slack_refuses_an_address_that_is_not_slacks():
    assert channels.find("slack").check({"webhook_url": "https://evil.example.com/services/x"}) != {}
