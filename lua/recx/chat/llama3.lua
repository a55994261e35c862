-- recx.chat.llama3 — the Llama-3 Instruct chat template (Meta-Llama-3-8B-Instruct's Jinja
-- template; SPEC 5.4 "llama-3"): "<|begin_of_text|>" once, then per message
-- "<|start_header_id|>ROLE<|end_header_id|>\n\nCONTENT<|eot_id|>" with CONTENT stripped of
-- leading and trailing whitespace; no default system message; the generation prompt is
-- "<|start_header_id|>assistant<|end_header_id|>\n\n".
-- BOS: the text already starts with <|begin_of_text|>; the reference training code also let the
-- HF tokenizer prepend BOS, giving two (SPEC 5.4): recx.chat.render(..., {add_bos = true})
-- reproduces that. Masked (assistant turns): CONTENT and "<|eot_id|>".
return {
  name = "llama3",
  bos = "<|begin_of_text|>",
  trim = true,
  roles = {
    system = {head = "<|start_header_id|>system<|end_header_id|>\n\n", eot = "<|eot_id|>", tail = ""},
    user = {head = "<|start_header_id|>user<|end_header_id|>\n\n", eot = "<|eot_id|>", tail = ""},
    assistant = {head = "<|start_header_id|>assistant<|end_header_id|>\n\n", eot = "<|eot_id|>", tail = ""},
  },
  generation_prompt = "<|start_header_id|>assistant<|end_header_id|>\n\n",
}
