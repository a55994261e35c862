-- recx.chat.vicuna — the Vicuna v1.1 format as FastChat writes it (SPEC 5.4 "vicuna", the
-- paper's vicuna-7b-v1.3): "<s>SYSTEM USER: Q1 ASSISTANT: A1</s>USER: Q2 ASSISTANT:", the system
-- message being the v1.1 default below unless the conversation starts with its own.
-- The generation prompt is "ASSISTANT:"; the answer's leading space belongs to the answer.
-- Masked (assistant turns): " A" and "</s>".
return {
  name = "vicuna",
  bos = "<s>",
  default_system = "A chat between a curious user and an artificial intelligence assistant. "
    .. "The assistant gives helpful, detailed, and polite answers to the user's questions.",
  trim = false,
  roles = {
    system = {head = "", eot = "", tail = " "},
    user = {head = "USER: ", eot = "", tail = " "},
    assistant = {head = "ASSISTANT:", lead = " ", eot = "</s>", tail = ""},
  },
  generation_prompt = "ASSISTANT:",
}
