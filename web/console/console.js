// shopbot agent console: transcript, suggested replies, order and decision,
// feedback figures. Talks only to the assistant API of its own origin with the
// agent token (kept in sessionStorage; `#token=...` in the address fills it).
// Every text from the server or the buyer is shown with textContent.
(function () {
  "use strict";
  var TOKEN_KEY = "shopbot.agentToken";
  var state = { token: null, request: null, clicked: null, edited: false, answered: false };
  var $ = function (id) { return document.getElementById(id); };

  var LABELS = {
    order: [
      ["order_id", "订单号"], ["product", "商品"], ["shop_name", "店铺"], ["status", "状态"],
      ["price", "金额"], ["paid_at", "付款时间"], ["delivered_at", "签收时间"],
      ["completed_at", "交易成功"], ["courier", "快递"], ["tracking_no", "运单号"]
    ],
    status: {
      unpaid: "待付款", paid: "已付款", shipped: "已发货", delivered: "已签收",
      completed: "交易成功", closed: "交易关闭"
    }
  };

  function chinaDate(iso) {
    if (!iso) { return ""; }
    var m = /^(\d{4})-(\d{2})-(\d{2})/.exec(iso);
    return m ? m[1] + "年" + Number(m[2]) + "月" + Number(m[3]) + "日" : iso;
  }
  function chinaTime(iso) {
    if (!iso) { return ""; }
    var m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})/.exec(iso);
    return m ? chinaDate(m[1]) + " " + m[2] : iso;
  }
  function percent(share) {
    return share === null || share === undefined ? "—" : (share * 100).toFixed(1) + "%";
  }
  function notice(text) {
    var box = $("notice");
    box.textContent = text || "";
    box.hidden = !text;
  }
  function clear(node) { while (node.firstChild) { node.removeChild(node.firstChild); } }
  function facts(list, pairs) {
    clear(list);
    pairs.forEach(function (pair) {
      if (pair[1] === null || pair[1] === undefined || pair[1] === "") { return; }
      var dt = document.createElement("dt");
      var dd = document.createElement("dd");
      dt.textContent = pair[0];
      dd.textContent = String(pair[1]);
      list.appendChild(dt);
      list.appendChild(dd);
    });
  }

  function api(method, path, body) {
    var init = { method: method, headers: { Authorization: "Bearer " + state.token } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(path, init).then(function (reply) {
      if (reply.status === 401) {
        sessionStorage.removeItem(TOKEN_KEY);
        showLogin();
        throw new Error("令牌无效，请重新登录");
      }
      return reply.json().then(function (data) {
        if (!reply.ok) {
          throw new Error(reply.status === 503 ? "助手暂不可用，请稍后再试" : "请求有误：" + (data.message || reply.status));
        }
        return data;
      });
    });
  }

  function showLogin() {
    $("token-form").hidden = false;
    $("signed-in").hidden = true;
  }
  function signIn(token) {
    state.token = token;
    sessionStorage.setItem(TOKEN_KEY, token);
    $("token-form").hidden = true;
    $("signed-in").hidden = false;
    loadFigures();
  }

  function feedback(event, extra) {
    if (!state.request) { return Promise.resolve(); }
    var body = { request_id: state.request, conversation_id: $("conversation").value.trim(), event: event };
    Object.keys(extra || {}).forEach(function (k) { body[k] = extra[k]; });
    return api("POST", "/assist/feedback", body).then(loadFigures, function (e) { notice(e.message); });
  }

  function loadFigures() {
    return api("GET", "/assist/figures").then(function (f) {
      facts($("figures"), [
        ["展示建议", f.shown + " 次"],
        ["覆盖率", percent(f.coverage)],
        ["采纳率", percent(f.acceptance)],
        ["采纳后修改", percent(f.edit_rate)],
        ["未采纳", f.ignored + " 次"]
      ]);
    }, function (e) { notice(e.message); });
  }

  function loadTranscript() {
    var id = $("conversation").value.trim();
    if (!id) { return Promise.resolve(); }
    return api("GET", "/assist/conversations/" + encodeURIComponent(id) + "/transcript").then(function (t) {
      var list = $("transcript");
      clear(list);
      var lastBuyer = null;
      t.lines.forEach(function (line) {
        var li = document.createElement("li");
        li.className = line.role;
        li.textContent = (line.role === "buyer" ? "买家：" : "机器人：") + line.text;
        if (line.role === "buyer") {
          lastBuyer = line.text;
          li.title = "点击作为买家消息";
          li.addEventListener("click", function () { $("message").value = line.text; });
        }
        list.appendChild(li);
      });
      if (!t.lines.length) {
        var empty = document.createElement("li");
        empty.textContent = "暂无对话记录";
        list.appendChild(empty);
      }
      if (lastBuyer !== null) { $("message").value = lastBuyer; }
    }, function (e) { notice(e.message); });
  }

  function showDecision(d, order) {
    if (!d) {
      facts($("decision"), [["判定", order ? "该问题无需规则判定" : "没有可用的订单，无法判定"]]);
      return;
    }
    var postage = d.postage.map(function (leg) { return leg.leg_name + "：" + leg.payer_name; }).join("；");
    facts($("decision"), [
      ["售后途径", d.route_name],
      ["可否申请", d.eligible ? "可以" : "不可以"],
      ["原因", d.reason_text],
      ["截止日期", d.window_end ? chinaDate(d.window_end) + "（剩 " + d.days_left + " 天）" : "无期限"],
      ["运费", postage],
      ["所需凭证", d.evidence.join("、")],
      ["下一步", d.next_steps.join("；")],
      ["依据规则", d.rules.join(" ")]
    ]);
  }

  function showOrder(order) {
    if (!order) {
      facts($("order-facts"), [["订单", "未找到该买家的订单"]]);
      return;
    }
    facts($("order-facts"), LABELS.order.map(function (pair) {
      var value = order[pair[0]];
      if (pair[0] === "status") { value = LABELS.status[value] || value; }
      if (/_at$/.test(pair[0])) { value = chinaTime(value); }
      if (pair[0] === "price") { value = "¥" + value; }
      return [pair[1], value];
    }));
  }

  function showSummary(answer) {
    var parts = [];
    if (answer.order) { parts.push(answer.order.product + "（" + answer.order.order_id + "）"); }
    if (answer.intent) { parts.push("买家意图：" + answer.intent); }
    if (answer.decision) {
      parts.push(answer.decision.route_name + "，" + (answer.decision.eligible ? "可以申请" : "不可申请"));
      if (answer.decision.window_end) { parts.push("截止 " + chinaDate(answer.decision.window_end)); }
    }
    $("summary").textContent = parts.length ? parts.join("；") : "没有足够信息生成摘要。";
  }

  function choose(rank, suggestion, button) {
    state.clicked = suggestion.text;
    state.edited = false;
    state.answered = true;
    $("reply").value = suggestion.text;
    Array.prototype.forEach.call(document.querySelectorAll(".suggestion"), function (b) { b.classList.remove("chosen"); });
    button.classList.add("chosen");
    $("ignore").disabled = true;
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(suggestion.text).catch(function () {});
    }
    feedback("clicked", { rank: rank, intent: suggestion.intent });
  }

  function showSuggestions(answer) {
    var list = $("suggestions");
    clear(list);
    answer.suggestions.forEach(function (s, rank) {
      var li = document.createElement("li");
      var button = document.createElement("button");
      button.type = "button";
      button.className = "suggestion";
      button.textContent = s.text;
      var meta = document.createElement("span");
      meta.className = "meta";
      meta.textContent = "意图 " + s.intent + " · 置信度 " + (s.confidence * 100).toFixed(0) + "% · 规则 " + (s.rule_ids.join(" ") || "—");
      button.appendChild(meta);
      button.addEventListener("click", function () { choose(rank, s, button); });
      li.appendChild(button);
      list.appendChild(li);
    });
    if (!answer.suggestions.length) {
      var none = document.createElement("li");
      none.textContent = "暂无建议回复，请人工回复。";
      list.appendChild(none);
    }
    $("ignore").disabled = !answer.suggestions.length;
  }

  function evidenceImage(file, item) {
    var img = document.createElement("img");
    img.alt = file.item || "凭证";
    fetch("/evidence/files/" + encodeURIComponent(file.id), {
      headers: { Authorization: "Bearer " + state.token }
    }).then(function (reply) {
      if (!reply.ok) { throw new Error(String(reply.status)); }
      return reply.blob();
    }).then(function (blob) {
      img.src = URL.createObjectURL(blob);
    }).catch(function () { item.appendChild(document.createTextNode("（图片无法读取）")); });
    return img;
  }

  function loadEvidence(orderId) {
    var list = $("evidence");
    clear(list);
    clear($("evidence-checklist"));
    if (!orderId) {
      $("evidence-status").textContent = "选择订单后显示买家上传的凭证。";
      return Promise.resolve();
    }
    return api("GET", "/evidence/orders/" + encodeURIComponent(orderId)).then(function (found) {
      $("evidence-status").textContent = "售后单 " + found.claim_number + "：已上传 " + found.files.length + " 张凭证";
      facts($("evidence-checklist"), found.checklist.map(function (entry) {
        return [entry.item, entry.ticked ? "已上传（" + entry.files + " 张）" : "未上传"];
      }));
      found.files.forEach(function (file) {
        var item = document.createElement("li");
        item.className = "evidence-file";
        item.appendChild(evidenceImage(file, item));
        item.appendChild(document.createTextNode((file.item || "其他凭证") + " · " + chinaTime(file.uploaded_at)));
        list.appendChild(item);
      });
    }, function () {
      $("evidence-status").textContent = "该订单没有售后单，暂无凭证。";
    });
  }

  function getSuggestions() {
    var body = {
      conversation_id: $("conversation").value.trim(),
      buyer_id: $("buyer").value.trim(),
      message: $("message").value
    };
    var order = $("order").value.trim();
    if (order) { body.order_id = order; }
    notice("");
    return api("POST", "/assist/suggest", body).then(function (answer) {
      state.request = answer.request_id;
      state.clicked = null;
      state.edited = false;
      state.answered = false;
      showSuggestions(answer);
      showOrder(answer.order);
      showDecision(answer.decision, answer.order);
      loadEvidence(answer.order ? answer.order.order_id : $("order").value.trim());
      showSummary(answer);
      return feedback("shown", { count: answer.suggestions.length, intent: answer.intent || undefined });
    }, function (e) { notice(e.message); });
  }

  function init() {
    var hash = /[#&]token=([^&]+)/.exec(location.hash);
    if (hash) {
      sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(hash[1]));
      history.replaceState(null, "", location.pathname + location.search);
    }
    var params = new URLSearchParams(location.search);
    $("conversation").value = params.get("conversation") || "";
    $("buyer").value = params.get("buyer") || "";
    $("order").value = params.get("order") || "";
    $("token-form").addEventListener("submit", function (event) {
      event.preventDefault();
      signIn($("token").value.trim());
      $("token").value = "";
    });
    $("open-form").addEventListener("submit", function (event) {
      event.preventDefault();
      loadTranscript();
      loadEvidence($("order").value.trim());
    });
    $("suggest-form").addEventListener("submit", function (event) {
      event.preventDefault();
      getSuggestions();
    });
    $("ignore").addEventListener("click", function () {
      $("ignore").disabled = true;
      state.answered = true;
      feedback("ignored");
    });
    $("reply").addEventListener("input", function () {
      if (state.clicked !== null && !state.edited && $("reply").value !== state.clicked) {
        state.edited = true;
        var chosen = document.querySelector(".suggestion.chosen");
        var rank = Array.prototype.indexOf.call(document.querySelectorAll(".suggestion"), chosen);
        feedback("edited", { rank: rank < 0 ? undefined : rank });
      }
    });
    var saved = sessionStorage.getItem(TOKEN_KEY);
    if (saved) { signIn(saved); } else { showLogin(); }
    if (saved && $("conversation").value) { loadTranscript(); loadEvidence($("order").value.trim()); }
  }

  window.ShopBotConsole = { state: state, loadEvidence: loadEvidence };
  document.addEventListener("DOMContentLoaded", init);
})();
