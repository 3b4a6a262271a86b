/* version.h - roomcastd's version: the log's start line, --version and the
 * roomcast_build_info metric. */
#ifndef ROOMCAST_VERSION_H
#define ROOMCAST_VERSION_H

#define ROOMCAST_VERSION "0.1.0"

#endif
