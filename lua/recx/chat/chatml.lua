-- recx.chat.chatml — the ChatML chat template as SmolLM2-Instruct's GGUF (tokenizer.chat_template)
-- renders it: every message is "<|im_start|>ROLE\nCONTENT<|im_end|>\n" (content kept verbatim);
-- when the first message is not a system message, the default system message below comes first;
-- the generation prompt is "<|im_start|>assistant\n". Qwen2.5's ChatML differs only in the
-- default system message: recx.chat.qwen2 (chat/init.lua) derives it from this table.
-- Masked for training (assistant turns): CONTENT and "<|im_end|>", not the header nor the "\n".
-- Fields: see recx.chat (chat/init.lua).
return {
  name = "chatml",
  bos = "",
  default_system = "You are a helpful AI assistant named SmolLM, trained by Hugging Face",
  trim = false,
  roles = {
    system = {head = "<|im_start|>system\n", eot = "<|im_end|>", tail = "\n"},
    user = {head = "<|im_start|>user\n", eot = "<|im_end|>", tail = "\n"},
    assistant = {head = "<|im_start|>assistant\n", eot = "<|im_end|>", tail = "\n"},
  },
  generation_prompt = "<|im_start|>assistant\n",
}
