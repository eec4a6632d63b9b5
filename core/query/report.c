/*
 * report.c: the automatic analysis report, answered from the index: a summary of the dump and its
 * heap, the top types per generation, the LOH's contents, the strings, the leak suspects and the
 * findings (threads.c renders those), as one document; and the evidence and settings the
 * findings point at.
 *
 * Everything heavy (findings, string duplicates, retained sizes, suspects) was computed by the
 * analysis and stored in the index; this file only reads sections and ranks small lists, so a
 * report costs O(types + LOH objects + findings), not a pass over the heap.
 */
#include "dumpscope/query.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queryint.h"

json_t *ds__evidence_json(ds_query *q, uint32_t first, uint32_t count) {
  ds__view v = ds__section_view(q->idx, DS_SEC_EVIDENCE, sizeof(ds_index_evidence));
  const ds_index_evidence *ev = v.data;
  json_t *list = json_array();
  for (uint64_t k = first; k < (uint64_t)first + count && k < v.count; k++) {
    const ds_index_evidence *e = &ev[k];
    json_t *j = json_object();
    switch (e->kind) {
    case DS_EVIDENCE_TYPE: {
      char clr[DS_MAX_TYPE_NAME_CHARS];
      ds_type_name_clrmd(ds__type_name(q, e->ref), clr, sizeof clr);
      ds__jset(j, "kind", ds__jstr("type"));
      ds__jset(j, "type", ds__jstr(ds__type_name(q, e->ref)));
      ds__jset(j, "display_name", ds__jstr(clr));
      break;
    }
    case DS_EVIDENCE_OBJECT:
      ds__jset(j, "kind", ds__jstr("object"));
      ds__jset(j, "object", e->ref < q->n ? ds__object_ref(q, e->ref) : json_null());
      break;
    case DS_EVIDENCE_THREAD:
      ds__jset(j, "kind", ds__jstr("thread"));
      ds__jset(j, "thread", e->ref < q->thread_count ? json_pack("{s:i,s:i}", "os_id", (int)q->threads[e->ref].os_id,
                                                                 "managed_id", (int)q->threads[e->ref].managed_id)
                                                     : json_null());
      break;
    default:
      break;
    }
    if (e->count)
      ds__jset(j, "count", json_integer((json_int_t)e->count));
    if (e->bytes)
      ds__jset(j, "bytes", json_integer((json_int_t)e->bytes));
    if (e->label)
      ds__jset(j, "label", ds__jstr(ds_index_string(q->idx, e->label)));
    ds__jappend(list, j);
  }
  return list;
}

json_t *ds__setting_json(ds_query *q, uint32_t name) {
  ds__view v = ds__section_view(q->idx, DS_SEC_SETTINGS, sizeof(ds_index_setting));
  const ds_index_setting *settings = v.data;
  const char *text = ds_index_string(q->idx, name);
  json_t *value = json_null();
  for (uint64_t k = 0; k < v.count; k++)
    if (strcmp(ds_index_string(q->idx, settings[k].name), text) == 0) {
      double number = settings[k].value;
      json_decref(value);
      value = number >= 0 && number < 9e15 && (double)(int64_t)number == number ? json_integer((json_int_t)number)
                                                                              : json_real(number);
    }
  return json_pack("{s:o,s:o}", "name", ds__jstr(text), "value", value);
}
