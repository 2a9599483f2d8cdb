/*
 * rsnaid.h: patient tokens, access codes and the RSNA-ID schemes of
 * PROFILE.md section 3 (isn2, rsna-token, rsna-access-code).
 */
#ifndef ISN_RSNAID_H
#define ISN_RSNAID_H

#include <stddef.h>
#include <stdint.h>

#define RSNAID_TOKEN_LEN	8	/* isn2 tokens; legacy ones may differ */
#define RSNAID_TOKEN_MAX	64
#define RSNAID_ACCESS_LEN	9	/* 8 data characters + check character */
#define RSNAID_DOB_LEN		8	/* YYYYMMDD */
#define RSNAID_ID_MAX		64	/* hex characters */
#define RSNAID_KEY_LEN		32
#define RSNAID_PASSWORD_MAX	1024

/* The default affinity domain (assigning authority) OID. */
#define RSNAID_DEFAULT_OID	"1.3.6.1.4.1.19376.3.840.1.1.1"

enum rsnaid_scheme {
	RSNAID_ISN2,
	RSNAID_RSNA_TOKEN,
	RSNAID_RSNA_ACCESS_CODE
};

struct rsnaid {
	enum rsnaid_scheme	scheme;
	char			id[RSNAID_ID_MAX + 1];	/* lower-case hex */
	int			has_key;		/* isn2 only */
	uint8_t			key[RSNAID_KEY_LEN];	/* content key */
};

int	 rsnaid_scheme_parse(const char *, enum rsnaid_scheme *);
const char *rsnaid_scheme_name(enum rsnaid_scheme);

/* Tokens: z-base-32, generated from the CSPRNG, printed as abcd-efgh. */
int	 rsnaid_token_new(char out[RSNAID_TOKEN_LEN + 1]);
int	 rsnaid_token_normalise(const char *, size_t exact_len,
	    char out[RSNAID_TOKEN_MAX + 1], char **cause);
void	 rsnaid_token_format(const char *, char *, size_t);

/* Access codes (RSNA releases 4-5): 58-character alphabet, case-sensitive. */
int	 rsnaid_access_code_normalise(const char *,
	    char out[RSNAID_ACCESS_LEN + 1], char **cause);
char	 rsnaid_access_code_check(const char *data, size_t len);

/* Dates of birth: YYYY-MM-DD or YYYYMMDD in, YYYYMMDD out. */
int	 rsnaid_dob_parse(const char *, char out[RSNAID_DOB_LEN + 1],
	    char **cause);

/*
 * Compute the RSNA-ID (and for isn2 the content key). The secret is a
 * token for isn2 and rsna-token, an access code for rsna-access-code (whose
 * password must be NULL). Inputs are normalised here. Causes may be NULL.
 */
int	 rsnaid_compute(enum rsnaid_scheme, const char *secret,
	    const char *dob, const char *password, struct rsnaid *,
	    char **cause);
void	 rsnaid_clear(struct rsnaid *);

int	 rsnaid_valid(const char *, char **cause);
int	 rsnaid_equal(const char *, const char *);
int	 rsnaid_cx(const char *id, const char *oid, char *, size_t);

#endif
