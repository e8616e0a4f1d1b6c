"""The web chat: `python app.py` (or `qa serve`), then open http://127.0.0.1:7860.

Thin by design: it lays out Gradio components around an `Assistant` and wires them to the
handlers in `qa/serve/web.py`, which hold everything the page does.
"""

# no `from __future__ import annotations` here: Gradio reads the handlers' `gr.Request`
# annotations at run time to pass the logged-in user
import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from typing import Any

CSS = """
#chat .cite { font-weight: 600; text-decoration: none; padding: 0 1px; border-radius: 3px;
  background: rgba(37, 99, 235, .10); cursor: pointer; }
#chat .abstain { display: inline-block; font-size: .8em; font-weight: 600; padding: 1px 8px;
  margin-right: 6px; border-radius: 9px; background: #fde68a; color: #78350f; }
#chat .cited-files, #chat .note { font-size: .82em; opacity: .75; }
#chat .error { color: #b91c1c; }
#sources { max-height: 640px; overflow-y: auto; }
#sources .turn { margin-bottom: 14px; }
#sources .question { font-weight: 600; margin: 4px 0 6px; }
#sources details { border: 1px solid var(--border-color-primary); border-radius: 8px;
  margin: 6px 0; padding: 6px 10px; background: var(--background-fill-secondary); }
#sources details.active { outline: 2px solid #2563eb; }
#sources summary { cursor: pointer; }
#sources .file { font-size: .8em; opacity: .7; margin-left: 4px; }
#sources .passage { white-space: pre-wrap; font-size: .9em; line-height: 1.45; margin-top: 6px; }
#sources mark.quote { background: #fde047; color: inherit; padding: 1px 0; }
#sources .label { font-size: .85em; opacity: .7; margin-top: 8px; }
#sources .also { font-size: .82em; opacity: .8; margin-top: 4px; }
#sources .warning, #chat .claim-unsupported { color: #b91c1c; }
#chat .claim { font-size: .75em; font-weight: 700; padding: 0 5px; border-radius: 8px;
  cursor: help; }
#chat .claim-supported { color: #15803d; background: rgba(21, 128, 61, .10); }
#chat .claim-partial { color: #a16207; background: rgba(161, 98, 7, .12); }
#chat .claim-unsupported { background: rgba(185, 28, 28, .10); }
"""

# A click on [n] in the chat opens that citation in the sources panel instead of navigating.
HEAD = """
<script>
document.addEventListener("click", function (event) {
  const link = event.target.closest && event.target.closest('a[href^="#cite-"]');
  if (!link) return;
  event.preventDefault();
  event.stopPropagation();
  const target = document.getElementById(link.getAttribute("href").slice(1));
  if (!target) return;
  document.querySelectorAll("#sources details.active").forEach(d => d.classList.remove("active"));
  target.open = true;
  target.classList.add("active");
  target.scrollIntoView({behavior: "smooth", block: "center"});
}, true);
</script>
"""


def build(assistant: Any, watcher: Any = None) -> Any:
    """The page around ``assistant`` (a ``qa.Assistant``); ``watcher``: the folder watcher of
    ``QA_WATCH_DIRS``, whose changes the Library shows."""
    import gradio as gr

    from qa.serve.web import EXAMPLES, LIBRARY_HEADERS, Handlers, render_sources

    h = Handlers(assistant, watcher)
    settings = assistant.settings

    def progress_to(progress: Any) -> Any:
        return lambda done, total, source: progress((done, total), desc=f"indexing {source}")

    def poll() -> Any:
        """The status line each second while the index is built; then the Library, once."""
        if not h.ready():
            return h.status(), gr.update(), gr.update(), gr.Timer(active=True)
        return (h.status(), h.sources_table(), gr.update(choices=h.sources()),
                gr.Timer(active=False))

    def upload(paths: Any, progress: Any = gr.Progress()) -> Any:  # noqa: B008
        rows, message = h.upload(paths, progress_to(progress))
        return rows, message, gr.update(choices=h.sources()), h.status(), None

    def remove(source: str | None) -> Any:
        rows, message = h.remove(source)
        return rows, message, gr.update(choices=h.sources(), value=None), h.status()

    def reindex(progress: Any = gr.Progress()) -> Any:  # noqa: B008
        rows, message = h.reindex(progress_to(progress))
        return rows, message, gr.update(choices=h.sources()), h.status()

    with gr.Blocks(title="Ask the articles") as demo:
        gr.Markdown("## Ask the articles\nEvery claim links to the file and passage it comes "
                    "from; when the articles don't answer, the assistant says so.")
        status = gr.Markdown("Starting…", elem_id="status")
        ticker = gr.Timer(1.0)
        turns = gr.State([])
        kept = gr.State(None)  # the id of the conversation in QA_HISTORY_DB
        # without a login, conversations belong to the browser: a random id in its storage
        browser = gr.BrowserState(None, storage_key="qa-browser",
                                  secret=h.conversations.secret())
        with gr.Tab("Chat"), gr.Row():
            with gr.Column(scale=1, min_width=200):
                gr.Markdown("### Conversations")
                new_chat = gr.Button("New conversation", size="sm", elem_id="new-chat")
                past = gr.Radio(choices=[], show_label=False, elem_id="conversations")
                title = gr.Textbox(placeholder="Name this conversation", show_label=False,
                                   elem_id="conversation-title")
                with gr.Row():
                    rename_button = gr.Button("Rename", size="sm", elem_id="rename")
                    delete_button = gr.Button("Delete", size="sm", elem_id="delete")
                export = gr.DownloadButton("Export (Markdown)", size="sm", elem_id="export",
                                           value=None)
                kept_message = gr.Markdown(elem_id="conversation-message")
            with gr.Column(scale=3):
                chat = gr.Chatbot(elem_id="chat", height=520, show_label=False,
                                  sanitize_html=False, render_markdown=True,
                                      buttons=["copy", "copy_all"],
                                  placeholder="Ask a question about the articles.")
                with gr.Row():
                    box = gr.Textbox(placeholder="Ask a question about the articles…",
                                     show_label=False, scale=6, elem_id="question",
                                     autofocus=True)
                    ask = gr.Button("Ask", variant="primary", scale=1, elem_id="ask")
                gr.Examples(EXAMPLES, inputs=box, label="Try")
                clear = gr.Button("Clear chat", size="sm", elem_id="clear")
            with gr.Column(scale=2):
                gr.Markdown("### Sources")
                sources = gr.HTML(render_sources([]), elem_id="sources")
        with gr.Tab("Library") as library_tab:
            table = gr.Dataframe(headers=LIBRARY_HEADERS,
                                 interactive=False, elem_id="library", wrap=True)
            files = gr.File(label="Upload .txt, .md or .html articles", file_count="multiple",
                            file_types=[".txt", ".md", ".html", ".htm"], elem_id="upload")
            with gr.Row():
                url_box = gr.Textbox(label="Add articles by URL (one per line)", lines=1,
                                     max_lines=6, scale=4, elem_id="urls")
                fetch_button = gr.Button("Fetch", scale=1, elem_id="fetch")
            library_message = gr.Markdown(elem_id="library-message")
            with gr.Row():
                # filled after the page loads (the status poll): no file names in the page's
                # configuration, which Gradio serves before a login
                pick = gr.Dropdown(label="File", choices=[], scale=3)
                remove_button = gr.Button("Remove from index", scale=1)
                reindex_button = gr.Button("Re-index all", scale=1)
        with gr.Tab("Settings"):
            mode = gr.Radio(h.modes(), value=assistant.mode, label="Answer mode",
                            info="llm needs QA_LLM_BASE_URL or OPENAI_API_KEY in the environment")
            gr.Textbox(value=settings.llm_model if settings.llm_configured else "(none)",
                       label="LLM model", interactive=False)
            top_k = gr.Slider(1, 10, value=settings.top_k, step=1,
                              label="Passages per answer (top-k)")
            gr.Markdown("Endpoints and keys are read from the environment only.")

        def user(request: gr.Request, browser_id: str | None) -> str:
            return h.owner(getattr(request, "username", None), browser_id)

        def listed(conversation: str | None, browser_id: str | None,
                   request: gr.Request) -> Any:
            """The side list and the Export file, after any change."""
            owner = user(request, browser_id)
            return (gr.update(choices=h.conversation_choices(owner), value=conversation),
                    h.export_conversation(conversation, owner))

        # browser_id last, with a default: a gradio_client caller of api "ask" passes none
        # (its answers are not kept)
        def respond(message: str, chat_now: Any, turns_now: Any, mode_now: str, k: int,
                    conversation: str | None, request: gr.Request,
                    browser_id: str | None = None) -> Any:
            yield from h.respond_kept(message, chat_now, turns_now, mode_now, k, conversation,
                                      user(request, browser_id))

        def opened(conversation: str | None, browser_id: str | None,
                   request: gr.Request) -> Any:
            owner = user(request, browser_id)
            return (*h.open_conversation(conversation, owner), conversation,
                    h.export_conversation(conversation, owner), "")

        def first_page(browser_id: str | None, request: gr.Request) -> Any:
            """The latest conversation, reopened after a reload or a restart; a new browser
            gets its id."""
            browser_id = browser_id or h.new_browser()
            choices = h.conversation_choices(user(request, browser_id))
            latest = choices[0][1] if choices else None
            return (gr.update(choices=choices, value=latest),
                    *opened(latest, browser_id, request)[:-1], browser_id)

        def rename(conversation: str | None, name: str, browser_id: str | None,
                   request: gr.Request) -> Any:
            message = h.rename_conversation(conversation, name, user(request, browser_id))
            return (*listed(conversation, browser_id, request), message, "")

        def delete(conversation: str | None, browser_id: str | None,
                   request: gr.Request) -> Any:
            h.delete_conversation(conversation, user(request, browser_id))
            return (*listed(None, browser_id, request), *h.clear(), None)

        outputs = [chat, turns, sources, box, kept]
        # both ways of asking share one concurrency limit (QA_CONCURRENCY): answering is
        # CPU-bound, so more at once only makes each slower
        limit = {"concurrency_id": "answer", "concurrency_limit": settings.concurrency}
        asked = [box, chat, turns, mode, top_k, kept, browser]
        for event, name in ((ask.click, "ask"), (box.submit, "submit")):
            event(respond, asked, outputs, api_name=name, **limit).then(
                listed, [kept, browser], [past, export], show_progress="hidden")
        clear.click(h.clear, None, [chat, turns, sources], api_name="clear").then(
            lambda: (None, gr.update(value=None), None), None, [kept, past, export])
        new_chat.click(h.clear, None, [chat, turns, sources]).then(
            lambda: (None, gr.update(value=None), None), None, [kept, past, export])
        past.input(opened, [past, browser], [chat, turns, sources, kept, export, kept_message])
        rename_button.click(rename, [kept, title, browser], [past, export, kept_message, title])
        delete_button.click(delete, [kept, browser], [past, export, chat, turns, sources, kept])
        demo.load(first_page, browser, [past, chat, turns, sources, kept, export, browser],
                  show_progress="hidden")
        files.upload(upload, files, [table, library_message, pick, status, files])
        remove_button.click(remove, pick, [table, library_message, pick, status])
        fetch_button.click(lambda text: (*h.add_urls(text), gr.update(choices=h.sources()),
                                         h.status(), ""),
                           url_box, [table, library_message, pick, status, url_box])
        reindex_button.click(reindex, None, [table, library_message, pick, status])
        library_tab.select(lambda: (*h.library(), gr.update(choices=h.sources()), h.status()),
                           None, [table, library_message, pick, status], show_progress="hidden")
        demo.load(h.startup, None, status, show_progress="hidden")
        ticker.tick(poll, None, [status, table, pick, ticker], show_progress="hidden")
    return demo


def theme() -> Any:
    """Soft, with system fonts: the page loads nothing from outside this machine."""
    import gradio as gr

    return gr.themes.Soft(font=["ui-sans-serif", "system-ui", "sans-serif"],
                          font_mono=["ui-monospace", "monospace"])


def create_app(assistant: Any) -> Any:
    """One FastAPI app on one port: the OpenAI-compatible API under ``/v1`` and the web chat at
    ``/``. The queue's limits are set on purpose: ``QA_CONCURRENCY`` answers are computed at once
    (the rest wait their turn), and at most ``QA_QUEUE_SIZE`` requests wait."""
    import gradio as gr
    from fastapi import FastAPI

    from qa.serve import ask_api, openai_api

    settings = assistant.settings
    from qa.serve.web import start_watching

    assistant.start_indexing()  # an empty index is built now; questions wait for it (503)
    watcher = start_watching(assistant)  # QA_WATCH_DIRS
    server = FastAPI(title="Ask the articles", docs_url=None, redoc_url=None, openapi_url=None)
    chat = openai_api.ChatService(assistant)  # its answer slots are shared by both APIs
    server.include_router(openai_api.router(assistant, chat))
    server.include_router(ask_api.router(assistant, chat))
    demo = build(assistant, watcher).queue(default_concurrency_limit=settings.concurrency,
                                  max_size=settings.queue_size)
    auth = settings.auth_pairs or None
    gr.mount_gradio_app(
        server, demo, path="/", auth=auth, show_error=False, theme=theme(), css=CSS, head=HEAD,
        max_file_size=int(settings.max_upload_mb * 1_000_000),
        footer_links=["gradio", "settings"],
    )
    if auth:  # every route needs the login, not only those Gradio guards itself
        from gradio.routes import App

        from qa.serve.login_gate import LoginGate, gradio_session_check

        mounted = next(a for a in (getattr(r, "app", None) for r in server.routes)
                       if isinstance(a, App))
        server.add_middleware(LoginGate, logged_in=gradio_session_check(mounted))
    return server


def main(argv: list[str] | None = None) -> int:
    import argparse
    import logging

    from qa import Assistant, QAError, load_settings

    parser = argparse.ArgumentParser(
        description="The web chat over your articles, and the OpenAI-compatible API (/v1).")
    parser.add_argument("--host", help="address to listen on (QA_HOST or GRADIO_SERVER_NAME, "
                        "default 127.0.0.1)")
    parser.add_argument("--port", type=int,
                        help="port (QA_PORT or GRADIO_SERVER_PORT, default 7860)")
    parser.add_argument("--share", action="store_true",
                        help="ask Gradio for a public link (the web chat only, no /v1 API)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings()
        assistant = Assistant(settings)
    except QAError as exc:
        print(f"error: {exc}")
        return 2
    host, port = args.host or settings.host, args.port or settings.port
    if args.share:
        from qa.serve.web import start_watching

        assistant.start_indexing()
        watcher = start_watching(assistant)
        auth = settings.auth_pairs or None
        build(assistant, watcher).queue(default_concurrency_limit=settings.concurrency,
                                        max_size=settings.queue_size).launch(
            server_name=host, server_port=port, share=True, auth=auth,
            max_file_size=int(settings.max_upload_mb * 1_000_000), theme=theme(), css=CSS,
            head=HEAD, show_error=False)
        return 0
    import uvicorn

    print(f"Web chat: http://{host}:{port}/   OpenAI-compatible API: http://{host}:{port}/v1",
          flush=True)
    uvicorn.run(create_app(assistant), host=host, port=port, log_level="warning")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
