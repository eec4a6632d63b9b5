/* elfnote.c: ELF note segments (NT_FILE, NT_PRSTATUS, GNU build id) and build ids, shared by the
 * core reader (elfcore.c) and the DAC locator; no dump state. */
#include "dumpscope/dump.h"

#include <elf.h>
#include <string.h>

int ds_elf_note_next(const uint8_t *notes, uint64_t size, uint64_t *pos, ds_elf_note *note) {
  uint64_t at = *pos;
  if (at >= size)
    return DS_ELF_NOTE_END;
  if (size - at < 12)
    return DS_ELF_NOTE_HEADER_CUT;
  memset(note, 0, sizeof *note);
  memcpy(&note->name_size, notes + at, 4);
  memcpy(&note->desc_size, notes + at + 4, 4);
  memcpy(&note->type, notes + at + 8, 4);
  /* sizes are 32-bit and at < size: none of these sums can wrap */
  uint64_t name_off = at + 12;
  uint64_t desc_off = name_off + (((uint64_t)note->name_size + 3) & ~3ull);
  uint64_t next = desc_off + (((uint64_t)note->desc_size + 3) & ~3ull);
  if (desc_off + note->desc_size > size)
    return DS_ELF_NOTE_DESC_CUT;
  note->name = notes + name_off;
  note->desc = notes + desc_off;
  note->offset = at;
  *pos = next;
  return DS_ELF_NOTE_OK;
}

bool ds_elf_note_is_build_id(const ds_elf_note *note) {
  return note->type == NT_GNU_BUILD_ID && note->name_size == 4 && memcmp(note->name, "GNU", 4) == 0 &&
         note->desc_size > 0 && note->desc_size <= DS_MAX_BUILD_ID_BYTES;
}

size_t ds_elf_image_build_id(const uint8_t *image, uint64_t size, uint8_t *out) {
  if (size < sizeof(Elf64_Ehdr) || memcmp(image, ELFMAG, SELFMAG) != 0 ||
      image[EI_CLASS] != ELFCLASS64)
    return 0;
  Elf64_Ehdr eh;
  memcpy(&eh, image, sizeof eh);
  if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phoff > size ||
      (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr) > size - eh.e_phoff)
    return 0;
  for (unsigned i = 0; i < eh.e_phnum; i++) {
    Elf64_Phdr ph;
    memcpy(&ph, image + eh.e_phoff + (uint64_t)i * sizeof ph, sizeof ph);
    if (ph.p_type != PT_NOTE || ph.p_offset > size || ph.p_filesz > size - ph.p_offset)
      continue;
    uint64_t pos = 0;
    ds_elf_note note;
    while (ds_elf_note_next(image + ph.p_offset, ph.p_filesz, &pos, &note) == DS_ELF_NOTE_OK)
      if (ds_elf_note_is_build_id(&note)) {
        memcpy(out, note.desc, note.desc_size);
        return note.desc_size;
      }
  }
  return 0;
}

void ds_build_id_hex(const uint8_t *id, size_t len, char *out) {
  static const char hex[] = "0123456789abcdef";
  for (size_t i = 0; i < len; i++) {
    out[2 * i] = hex[id[i] >> 4];
    out[2 * i + 1] = hex[id[i] & 15];
  }
  out[2 * len] = 0;
}
