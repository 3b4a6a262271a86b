/* fuzz_config.c - libFuzzer target for the config parser.
 *
 * Parses the input as a config file (from an exact-size heap copy, so any
 * read past the end is caught) and checks what a successful parse promises:
 * at least one listener, a transport, a path framed by '/', an output cap
 * that holds one full message; a failed parse reports "FILE:LINE: ...".
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config cfg;
	char err[CONFIG_ERR_LEN];
	char *copy = malloc(size ? size : 1);

	memcpy(copy, data, size);
	config_defaults(&cfg);
	if (config_parse(&cfg, copy, size, "f", err, sizeof err) == 0) {
		assert(cfg.n_listen >= 1 && cfg.n_listen <= CONFIG_MAX_LISTEN);
		assert(cfg.transports != 0);
		assert(cfg.path[0] == '/' && cfg.path[strlen(cfg.path) - 1] == '/');
		assert(cfg.max_output_buffer >= cfg.max_payload);
	} else {
		assert(strncmp(err, "f:", 2) == 0);
	}
	free(copy);
	return 0;
}
