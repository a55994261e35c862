-- recx.chat.mistral — the Mistral Instruct format as FastChat writes it (SPEC 5.4 "mistral"):
-- "<s>[INST] Q1 [/INST] A1</s>[INST] Q2 [/INST]". A system message is merged into the first user
-- message as "SYSTEM\nQ1" (FastChat's "[INST] {system}\n" system template); no default system
-- message. The generation prompt is "[/INST]", the answer's leading space belongs to the answer.
-- Masked (assistant turns): " A" and "</s>".
return {
  name = "mistral",
  bos = "<s>",
  trim = false,
  merge_system = "\n",
  roles = {
    user = {head = "[INST] ", eot = "", tail = " "},
    assistant = {head = "[/INST]", lead = " ", eot = "</s>", tail = ""},
  },
  generation_prompt = "[/INST]",
}
