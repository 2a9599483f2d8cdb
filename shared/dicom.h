/*
 * dicom.h: a small DICOM Part 10 reader and writer (PS3.5, PS3.10) that
 * needs no DCMTK. It reads the identifying UIDs of an instance from a
 * prefix of its file, parses and builds the Key Object Selection manifest
 * of XDS-I.b (docs/design/dicom.md), and builds small test instances.
 *
 * The reader accepts explicit and implicit VR little endian datasets (any
 * encapsulated transfer syntax too: their datasets are explicit VR LE),
 * sequences and items of defined and undefined length. Every length is
 * checked against the bytes left, nesting is limited to DICOM_MAX_DEPTH and
 * every step consumes input, so hostile bytes give -1 with a cause and
 * never crash or loop. The writer emits explicit VR little endian with
 * defined lengths only.
 */
#ifndef ISN_DICOM_H
#define ISN_DICOM_H

#include <stddef.h>
#include <stdint.h>

struct dbuf;

#define DICOM_UID_MAX		64
#define DICOM_UID_BUF		(DICOM_UID_MAX + 1)
#define DICOM_MAX_DEPTH		16
#define DICOM_PREAMBLE		132	/* 128 bytes + "DICM" */

#define DICOM_TS_IMPLICIT	"1.2.840.10008.1.2"
#define DICOM_TS_EXPLICIT	"1.2.840.10008.1.2.1"
#define DICOM_TS_BIG_ENDIAN	"1.2.840.10008.1.2.2"
#define DICOM_KOS_CLASS		"1.2.840.10008.5.1.4.1.1.88.59"
#define DICOM_SC_CLASS		"1.2.840.10008.5.1.4.1.1.7"
#define DICOM_CT_CLASS		"1.2.840.10008.5.1.4.1.1.2"

/* What identifies an instance. Strings are empty when absent. */
struct dicom_ids {
	char	ts[DICOM_UID_BUF];		/* (0002,0010) */
	char	sop_class[DICOM_UID_BUF];	/* (0008,0016) */
	char	sop_instance[DICOM_UID_BUF];	/* (0008,0018) */
	char	study[DICOM_UID_BUF];		/* (0020,000D) */
	char	series[DICOM_UID_BUF];		/* (0020,000E) */
	char	modality[17];			/* (0008,0060) */
	char	accession[17];			/* (0008,0050) */
	char	patient_id[65];			/* (0010,0020) */
};

/*
 * Reads the ids from the first len bytes of a Part 10 file. Parsing stops
 * at the pixel data (7FE0,0010) or at the end of the dataset. Returns 0
 * when the transfer syntax and the four UIDs were found (each a valid UID,
 * so safe in a file name), 1 when the bytes ended before they were (give
 * more of the file), -1 when the bytes are not such a file (cause set).
 */
int	 dicom_read_ids(const void *, size_t, struct dicom_ids *,
	    char **cause);
/*
 * The same on a whole file: reads its first 16 KiB, then more as needed,
 * at most 1 MiB; 1 becomes -1.
 */
int	 dicom_read_ids_file(const char *path, struct dicom_ids *,
	    char **cause);
#define DICOM_IDS_FIRST		(16 * 1024)
#define DICOM_IDS_PREFIX	(1024 * 1024)

/* 1 when s is a UID: 1-64 characters, digits and dots, no empty component. */
int	 dicom_uid_valid(const char *);
/* A new random UID under 2.25 (from 128 random bits). */
void	 dicom_uid_generate(char buf[DICOM_UID_BUF]);
/* A UID named by two strings: 2.25. and 128 bits of SHA-256(a, NUL, b). */
void	 dicom_uid_derive(const char *a, const char *b,
	    char buf[DICOM_UID_BUF]);

/* A parsed KOS manifest: the evidence tree. */
struct dicom_sop {
	char	class_uid[DICOM_UID_BUF];
	char	instance_uid[DICOM_UID_BUF];
};
struct dicom_series {
	char			 uid[DICOM_UID_BUF];
	char			 retrieve_location[DICOM_UID_BUF]; /* or "" */
	struct dicom_sop	*sops;
	size_t			 nsops;
};
struct dicom_study {
	char			 uid[DICOM_UID_BUF];
	struct dicom_series	*series;
	size_t			 nseries;
};
struct dicom_kos {
	struct dicom_ids	 ids;		/* of the KOS itself */
	char			 title_code[17];	/* "113030" */
	char			 title_scheme[17];	/* "DCM" */
	struct dicom_study	*studies;
	size_t			 nstudies;
	size_t			 ninstances;	/* over all series */
};

/*
 * Parses a whole KOS file. Fails unless the SOP class is the KOS class and
 * every study, series and SOP item carries valid UIDs.
 */
int	 dicom_kos_parse(const void *, size_t, struct dicom_kos **,
	    char **cause);
void	 dicom_kos_free(struct dicom_kos *);

/* One instance a KOS references. */
struct dicom_ref {
	const char	*study_uid;
	const char	*series_uid;
	const char	*sop_class_uid;
	const char	*sop_instance_uid;
};

/* What a KOS is built from. NULL optional strings are written empty. */
struct dicom_kos_params {
	const char		*patient_id;		/* required */
	const char		*patient_name;		/* type 2 */
	const char		*patient_birth_date;	/* YYYYMMDD */
	const char		*patient_sex;
	const char		*study_uid;		/* required */
	const char		*series_uid;		/* required */
	const char		*sop_instance_uid;	/* required */
	const char		*retrieve_location_uid;	/* or NULL */
	const char		*accession_number;
	const char		*date;			/* YYYYMMDD, or now */
	const char		*time;			/* HHMMSS, or now */
	const struct dicom_ref	*refs;
	size_t			 nrefs;			/* at least 1 */
};

/*
 * Appends the KOS as an explicit VR LE Part 10 file. References are grouped
 * by study and series in the order they first appear. Strings must be
 * printable ASCII without backslashes, UIDs valid.
 */
int	 dicom_kos_build(const struct dicom_kos_params *, struct dbuf *,
	    char **cause);

/*
 * A synthetic image for tests and benchmarks: Secondary Capture, or with
 * ct a CT Image Storage slice (512 x 512, 16-bit signed, 512 KiB of pixel
 * data whatever pixel_bytes says) at z = instance_number mm, its frame of
 * reference derived from the series UID: a multi-hundred-slice CT study
 * for the edge's tests and benchmark (dciodvfy finds it a valid CTImage).
 */
struct dicom_instance_params {
	const char	*patient_id;		/* required */
	const char	*patient_name;
	const char	*study_uid;		/* required */
	const char	*series_uid;		/* required */
	const char	*sop_instance_uid;	/* required */
	const char	*sop_class_uid;		/* NULL: Secondary Capture */
	const char	*modality;		/* NULL: "OT" */
	const char	*accession_number;	/* NULL: empty */
	const char	*date;			/* YYYYMMDD; NULL: today */
	const char	*time;			/* HHMMSS; NULL: now */
	unsigned	 instance_number;
	size_t		 pixel_bytes;		/* rounded up, see below */
	uint64_t	 seed;			/* of the pixel pattern */
	int		 ct;
};

#define DICOM_CT_PIXEL_BYTES	(512 * 512 * 2)

/*
 * Secondary Capture pixel data is 8-bit monochrome, Columns = 512 (fewer
 * for small sizes, always even) and Rows enough for pixel_bytes: the value
 * is pixel_bytes rounded up to a whole row (at least 2 bytes). A CT slice
 * has DICOM_CT_PIXEL_BYTES.
 */
size_t	 dicom_instance_pixel_len(size_t pixel_bytes);
/* The pixel data length of an instance. */
size_t	 dicom_instance_plen(const struct dicom_instance_params *);
/* Everything up to and including the pixel data element's header. */
int	 dicom_instance_header(const struct dicom_instance_params *,
	    struct dbuf *, char **cause);
/* The pattern of the pixel data from offset off (deterministic by seed). */
void	 dicom_instance_pixels(uint64_t seed, uint64_t off, void *, size_t);
/* The whole instance into a dbuf, or streamed to a file descriptor. */
int	 dicom_instance_build(const struct dicom_instance_params *,
	    struct dbuf *, char **cause);
int	 dicom_instance_write_fd(const struct dicom_instance_params *,
	    int fd, char **cause);

#endif
