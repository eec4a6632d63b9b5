/*
 * test_elf_note.c: the one ELF note iterator (dump.h) on hand-made note segments: notes come out
 * in order with their names and descriptors, padding is skipped, a cut header or a descriptor
 * past the end is reported (never read), and the build id of a minimal ELF image is found.
 */
#include <elf.h>
#include <string.h>

#include "dumpscope/dump.h"
#include "fixture.h"

/* Appends a note (name with its NUL, descriptor), padded to 4 bytes; returns the new length. */
static size_t put_note(uint8_t *buf, size_t at, uint32_t type, const char *name, const void *desc,
                       uint32_t desc_size) {
  uint32_t name_size = (uint32_t)strlen(name) + 1;
  memcpy(buf + at, &name_size, 4);
  memcpy(buf + at + 4, &desc_size, 4);
  memcpy(buf + at + 8, &type, 4);
  at += 12;
  memcpy(buf + at, name, name_size);
  at += (name_size + 3) & ~3u;
  memcpy(buf + at, desc, desc_size);
  return at + ((desc_size + 3) & ~3u);
}

static void test_iterate(void) {
  uint8_t buf[256] = {0};
  uint8_t id[20];
  for (int i = 0; i < 20; i++)
    id[i] = (uint8_t)(i + 1);
  size_t len = put_note(buf, 0, 1 /* NT_PRSTATUS */, "CORE", "abcdefg", 7);
  size_t second = len;
  len = put_note(buf, len, NT_GNU_BUILD_ID, "GNU", id, sizeof id);

  uint64_t pos = 0;
  ds_elf_note note;
  CU_ASSERT_EQUAL_FATAL(ds_elf_note_next(buf, len, &pos, &note), DS_ELF_NOTE_OK);
  CU_ASSERT_EQUAL(note.type, 1);
  CU_ASSERT_EQUAL(note.name_size, 5);
  CU_ASSERT_EQUAL(memcmp(note.name, "CORE", 5), 0);
  CU_ASSERT_EQUAL(note.desc_size, 7);
  CU_ASSERT_EQUAL(memcmp(note.desc, "abcdefg", 7), 0);
  CU_ASSERT_EQUAL(note.offset, 0);
  CU_ASSERT_FALSE(ds_elf_note_is_build_id(&note));
  CU_ASSERT_EQUAL(pos, second); /* past the padding */
  CU_ASSERT_EQUAL_FATAL(ds_elf_note_next(buf, len, &pos, &note), DS_ELF_NOTE_OK);
  CU_ASSERT(ds_elf_note_is_build_id(&note));
  CU_ASSERT_EQUAL(note.offset, second);
  CU_ASSERT_EQUAL(ds_elf_note_next(buf, len, &pos, &note), DS_ELF_NOTE_END);

  /* a header cut off after the first note */
  pos = second;
  CU_ASSERT_EQUAL(ds_elf_note_next(buf, second + 8, &pos, &note), DS_ELF_NOTE_HEADER_CUT);
  CU_ASSERT_EQUAL(pos, second);
  /* a descriptor running past the end */
  pos = second;
  CU_ASSERT_EQUAL(ds_elf_note_next(buf, len - 4, &pos, &note), DS_ELF_NOTE_DESC_CUT);
  CU_ASSERT_EQUAL(note.type, NT_GNU_BUILD_ID);
  CU_ASSERT_EQUAL(pos, second);
  /* a huge claimed size is refused, never read */
  uint32_t huge = 0xFFFFFFF0u;
  memcpy(buf + second + 4, &huge, 4);
  pos = second;
  CU_ASSERT_EQUAL(ds_elf_note_next(buf, len, &pos, &note), DS_ELF_NOTE_DESC_CUT);
}

static void test_image_build_id(void) {
  uint8_t image[512] = {0};
  Elf64_Ehdr eh = {0};
  memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = ELFCLASS64;
  eh.e_phoff = sizeof eh;
  eh.e_phentsize = sizeof(Elf64_Phdr);
  eh.e_phnum = 1;
  memcpy(image, &eh, sizeof eh);
  uint8_t id[8] = {0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4};
  size_t notes = sizeof eh + sizeof(Elf64_Phdr);
  size_t end = put_note(image, notes, NT_GNU_BUILD_ID, "GNU", id, sizeof id);
  Elf64_Phdr ph = {.p_type = PT_NOTE, .p_offset = notes, .p_filesz = end - notes};
  memcpy(image + sizeof eh, &ph, sizeof ph);
  uint8_t out[DS_MAX_BUILD_ID_BYTES];
  CU_ASSERT_EQUAL_FATAL(ds_elf_image_build_id(image, sizeof image, out), sizeof id);
  CU_ASSERT_EQUAL(memcmp(out, id, sizeof id), 0);
  /* the note segment claims more than the image holds: nothing is read */
  ph.p_filesz = 4096;
  memcpy(image + sizeof eh, &ph, sizeof ph);
  CU_ASSERT_EQUAL(ds_elf_image_build_id(image, sizeof image, out), 0);
  CU_ASSERT_EQUAL(ds_elf_image_build_id(image, 16, out), 0);
}

int main(void) {
  CU_initialize_registry();
  CU_pSuite s = CU_add_suite("elf notes", NULL, NULL);
  CU_add_test(s, "iterating a note segment", test_iterate);
  CU_add_test(s, "build id of an ELF image in memory", test_image_build_id);
  return ds_test_main();
}
