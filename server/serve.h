/*
 * serve.h: `dumpscope serve`, `dumpscope token create` and `dumpscope import` (serve.c).
 */
#ifndef DUMPSCOPE_SERVER_SERVE_H
#define DUMPSCOPE_SERVER_SERVE_H

int ds_serve_main(int argc, char **argv);
int ds_token_main(int argc, char **argv);
int ds_import_main(int argc, char **argv);

#endif
