// shopbot agent console: the handoff queue, transcript, suggested replies,
// order and decision, feedback figures, per-day conversation figures; replies to the buyer and release to
// the bot for the selected handoff. Talks only to the assistant API of its own origin with the
// agent token (kept in sessionStorage; `#token=...` in the address fills it).
// Every text from the server or the buyer is shown with textContent.
(function () {
  "use strict";
  var TOKEN_KEY = "shopbot.agentToken";
  var state = {
    token: null, request: null, clicked: null, edited: false, answered: false,
    handoff: null, queueTimer: null, dailyTimer: null
  };
  var QUEUE_REFRESH_MS = 5000;
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
    },
    reason: {
      request_human: "买家要求人工", complaint: "投诉", fallback: "机器人未能理解",
      intervention: "需客服介入", order_not_found: "找不到订单"
    },
    channel: { shop: "网页聊天", im: "店铺 IM" },
    daily: {
      conversations: "对话数", messages: "买家消息", claims_opened: "新建售后",
      handoffs: "转人工", fallbacks: "未识别消息", fallback_rate: "未识别率"
    },
    // Intents that are no after-sales topic (those come with intent_titles).
    intent: {
      greet: "打招呼", goodbye: "告别", thank: "致谢", affirm: "确认", deny: "否定",
      out_of_scope: "无关话题", nlu_fallback: "未识别"
    }
  };
  var DAILY_REFRESH_MS = 60000;
  var INTENTS_SHOWN = 10;

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
          var known = {
            409: "该对话已交还机器人，无法再发送",
            502: "机器人服务暂时不可用，没有做任何更改，请稍后重试",
            503: data.error === "im_channel_off" ? "店铺 IM 渠道未配置，无法发送" : "助手暂不可用，请稍后再试"
          };
          throw new Error(known[reply.status] || "请求有误：" + (data.message || reply.status));
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
    loadQueue();
    loadDaily();
    if (state.queueTimer === null) {
      state.queueTimer = setInterval(loadQueue, QUEUE_REFRESH_MS);
    }
    if (state.dailyTimer === null) {
      state.dailyTimer = setInterval(loadDaily, DAILY_REFRESH_MS);
    }
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

  function loadDaily() {
    var query = "?days=" + encodeURIComponent($("daily-days").value || "1");
    if ($("daily-day").value) { query += "&day=" + encodeURIComponent($("daily-day").value); }
    return api("GET", "/assist/figures/daily" + query).then(function (f) {
      var t = f.total;
      var names = LABELS.daily;
      $("daily-range").textContent = t.first_day === t.last_day
        ? chinaDate(t.last_day)
        : chinaDate(t.first_day) + " 至 " + chinaDate(t.last_day);
      facts($("daily"), [
        [names.conversations, t.conversations + " 个"],
        [names.messages, t.messages + " 条"],
        [names.claims_opened, t.claims_opened + " 个"],
        [names.handoffs, t.handoffs + " 次"],
        [names.fallbacks, t.fallbacks + " 条"],
        [names.fallback_rate, percent(t.fallback_rate)]
      ]);
      var list = $("daily-intents");
      clear(list);
      Object.keys(t.intents).slice(0, INTENTS_SHOWN).forEach(function (name) {
        var li = document.createElement("li");
        var title = f.intent_titles[name] || LABELS.intent[name] || name;
        li.textContent = title + "：" + t.intents[name] + " 条";
        list.appendChild(li);
      });
      if (!list.firstChild) {
        var none = document.createElement("li");
        none.textContent = "暂无买家消息";
        list.appendChild(none);
      }
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
        var who = { buyer: "买家：", bot: "机器人：", agent: "人工客服：" }[line.role] || "";
        li.textContent = who + line.text;
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
    $("daily-form").addEventListener("submit", function (event) {
      event.preventDefault();
      loadDaily();
    });
    $("send").addEventListener("click", sendReply);
    $("release").addEventListener("click", releaseCase);
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

  /* ---------- the handoff queue ---------- */

  function text(value) {
    if (value === null || value === undefined) { return ""; }
    return typeof value === "string" ? value : JSON.stringify(value);
  }

  function evidenceText(evidence) {
    if (!evidence || typeof evidence !== "object") { return text(evidence); }
    if (Array.isArray(evidence.needed)) {
      var uploaded = Array.isArray(evidence.uploaded) ? evidence.uploaded : [];
      var missing = evidence.needed.filter(function (item) { return uploaded.indexOf(item) < 0; });
      return (uploaded.length ? "已上传：" + uploaded.map(text).join("、") : "尚未上传") +
        (missing.length ? "；还缺：" + missing.map(text).join("、") : "；已齐全");
    }
    if (Array.isArray(evidence.checklist)) {
      var items = evidence.checklist.map(function (entry) {
        return text(entry.item) + (entry.ticked ? "（已上传）" : "（未上传）");
      });
      return (evidence.claim_number ? "售后单 " + evidence.claim_number + "：" : "") + items.join("、");
    }
    return text(evidence);
  }

  function decisionText(decision) {
    if (!decision || typeof decision !== "object") { return text(decision); }
    var parts = [];
    if (decision.route_name) { parts.push(decision.route_name); }
    if (decision.eligible !== undefined) { parts.push(decision.eligible ? "可以申请" : "不可申请"); }
    if (decision.window_end) {
      var left = decision.days_left !== undefined && decision.days_left !== null ? "（剩 " + decision.days_left + " 天）" : "";
      parts.push("截止 " + chinaDate(decision.window_end) + left);
    }
    return parts.join("，") || text(decision);
  }

  function orderText(order, fallbackId) {
    if (!order || typeof order !== "object") { return order ? text(order) : (fallbackId || ""); }
    var parts = [];
    if (order.product) { parts.push(order.product); }
    if (order.order_id || fallbackId) { parts.push(order.order_id || fallbackId); }
    if (order.status_name || order.status) { parts.push(order.status_name || LABELS.status[order.status] || order.status); }
    if (order.price) { parts.push(order.price); }
    return parts.join(" · ");
  }

  function claimText(claim) {
    if (!claim || typeof claim !== "object") { return text(claim); }
    var parts = [];
    if (claim.claim_no) { parts.push(claim.claim_no); }
    if (claim.claim_status) { parts.push(claim.claim_status); }
    if (claim.next_deadline) { parts.push("下一期限 " + claim.next_deadline + (claim.next_party ? "（" + claim.next_party + "）" : "")); }
    return parts.join(" · ") || text(claim);
  }

  // Summary keys shown in their own row, or already shown as the case's columns.
  var SHOWN_KEYS = ["order", "decision", "claim", "evidence", "buyer_said", "order_id", "problem"];

  function caseItem(handoff) {
    var summary = handoff.summary || {};
    var li = document.createElement("li");
    li.className = "handoff" + (state.handoff && state.handoff.id === handoff.id ? " selected" : "");
    li.setAttribute("data-handoff", String(handoff.id));
    li.tabIndex = 0;
    var title = document.createElement("h3");
    title.textContent = "#" + handoff.id + " · " + (LABELS.reason[handoff.reason] || handoff.reason) +
      " · " + (LABELS.channel[handoff.channel] || handoff.channel) + " · " + chinaTime(handoff.created_at);
    li.appendChild(title);
    var list = document.createElement("dl");
    var pairs = [
      ["买家", handoff.subject],
      ["订单", orderText(summary.order, handoff.order_id)],
      ["问题", handoff.problem],
      ["判定", decisionText(summary.decision)],
      ["售后单", claimText(summary.claim)],
      ["凭证", evidenceText(summary.evidence)]
    ];
    Object.keys(summary).forEach(function (key) {
      if (SHOWN_KEYS.indexOf(key) < 0 && summary[key] !== null) { pairs.push([key, text(summary[key])]); }
    });
    facts(list, pairs);
    li.appendChild(list);
    var said = Array.isArray(summary.buyer_said) ? summary.buyer_said : [];
    if (said.length) {
      var quotes = document.createElement("ul");
      quotes.className = "said";
      said.forEach(function (line) {
        var item = document.createElement("li");
        item.textContent = "买家：" + text(line);
        quotes.appendChild(item);
      });
      li.appendChild(quotes);
    }
    li.addEventListener("click", function () { selectCase(handoff); });
    li.addEventListener("keydown", function (event) {
      if (event.key === "Enter") { selectCase(handoff); }
    });
    return li;
  }

  function showSelected() {
    var selected = state.handoff;
    $("send").disabled = !selected;
    $("release").disabled = !selected;
    $("case-selected").textContent = selected
      ? "当前对话：#" + selected.id + "（" + (LABELS.channel[selected.channel] || selected.channel) + "，买家 " + selected.subject + "）"
      : "从转人工队列选择一个对话后，可以发送回复或交还机器人。";
    Array.prototype.forEach.call(document.querySelectorAll(".handoff"), function (item) {
      item.classList.toggle("selected", !!selected && item.getAttribute("data-handoff") === String(selected.id));
    });
  }

  function selectCase(handoff) {
    state.handoff = handoff;
    $("conversation").value = handoff.conversation_id;
    $("buyer").value = handoff.subject;
    $("order").value = handoff.order_id || "";
    showSelected();
    loadTranscript();
    loadEvidence(handoff.order_id || "");
  }

  function loadQueue() {
    if (!state.token) { return Promise.resolve(); }
    return api("GET", "/assist/handoffs").then(function (answer) {
      var list = $("handoffs");
      clear(list);
      answer.handoffs.forEach(function (handoff) { list.appendChild(caseItem(handoff)); });
      $("handoff-count").textContent = answer.handoffs.length ? "（" + answer.handoffs.length + "）" : "";
      $("handoff-status").textContent = answer.handoffs.length
        ? "点击一个对话开始处理（每 5 秒刷新）。"
        : "没有等待人工处理的对话（每 5 秒刷新）。";
      if (state.handoff && !answer.handoffs.some(function (h) { return h.id === state.handoff.id; })) {
        state.handoff = null;
      }
      showSelected();
    }, function (e) { notice(e.message); });
  }

  function sendReply() {
    var selected = state.handoff;
    var reply = $("reply").value.replace(/^\s+|\s+$/g, "");
    if (!selected) { return Promise.resolve(); }
    if (!reply) { notice("请输入回复内容"); return Promise.resolve(); }
    $("send").disabled = true;
    return api("POST", "/assist/handoffs/" + selected.id + "/reply", { text: reply }).then(function () {
      notice("已发送给买家");
      $("reply").value = "";
      state.clicked = null;
      return loadTranscript();
    }, function (e) {
      notice(e.message);
    }).then(showSelected);
  }

  function releaseCase() {
    var selected = state.handoff;
    if (!selected) { return Promise.resolve(); }
    $("release").disabled = true;
    return api("POST", "/assist/handoffs/" + selected.id + "/release").then(function () {
      notice("已交还机器人：#" + selected.id);
      state.handoff = null;
      return loadQueue();
    }, function (e) {
      notice(e.message);
      showSelected();
    });
  }

  window.ShopBotConsole = { state: state, loadEvidence: loadEvidence, loadQueue: loadQueue };
  document.addEventListener("DOMContentLoaded", init);
})();
