/* cnn.y: the grammar of the network DSL (docs/dsl.md).
 *
 * Takes tokens from cnn.l; gives a small syntax tree (Stmt, Arg, Value,
 * below) that compiler/frontend/dsl.c checks and lowers into the IR. The
 * grammar knows nothing of layer kinds or keyword names: every statement
 * has one generic shape, so that an unknown layer or argument is a clear
 * semantic error with a suggestion rather than a syntax error.
 *
 * Statements end at a line break or ';'. A syntax error discards tokens up
 * to the end of its statement (or the block's '}') and parsing goes on, so
 * one run reports every broken statement. Tree nodes live in an arena that
 * dsl.c frees in one go, so recovery cannot leak them. */

%define api.pure full
%define api.prefix {cnn_}
%define parse.error detailed
%locations
%expect 0
%param {yyscan_t scanner}
%parse-param {DslParse *p}

%code requires {
#include "cnnc.h"
#include "kit/dsl_args.h"

#ifndef YY_TYPEDEF_YY_SCANNER_T
#define YY_TYPEDEF_YY_SCANNER_T
typedef void *yyscan_t;
#endif

typedef struct Stmt Stmt;

typedef enum {
    S_MODEL, /* model NAME { body } */
    S_INPUT, /* input [name:] value kwargs */
    S_INIT,  /* init word kwargs */
    S_LAYER, /* [name[, name...]:] word [(args)] [from ref] */
    S_TRAIN, /* train { body of S_SET } */
    S_SET,   /* name = value */
    S_FREEZE, /* freeze name[, name...] */
} StmtKind;

struct Stmt {
    Stmt *next;
    StmtKind kind;
    Loc loc;                /* where the statement starts */
    const char *name;       /* layer/input/model name, S_SET key; or NULL */
    Loc name_loc;
    const char *word;       /* layer kind, init scheme */
    Loc word_loc;
    Value *value;           /* S_INPUT dims, S_SET value */
    Arg *args;              /* layer arguments, input/init keywords */
    const char *from;       /* layer `from` reference, or NULL */
    Loc from_loc;
    Arg *names;             /* a layer's several names, `a, b: split(...)` (values
                               V_IDENT, in order; name is the first), or NULL;
                               S_FREEZE: the layers it names */
    Stmt *body;             /* S_MODEL, S_TRAIN */
};

typedef struct { Arg *head, *tail; } ArgList;
typedef struct { Stmt *head, *tail; } StmtList;

typedef struct Chunk Chunk;

/* The parser's state, shared with the scanner (its yyextra). */
typedef struct DslParse {
    const char *path;
    Chunk *arena;
    StmtList models;
    int syntax_errors;
    int line, col; /* the scanner's position: of the next byte */
    int last;      /* the last token returned; decides whether '\n' counts */
    int depth;     /* open '{' */
    Loc brace;     /* the outermost open '{' */
    bool at_eof;
} DslParse;

/* In dsl.c: arena allocation for the tree (zeroed), and literal parsing. */
void *dsl_alloc(DslParse *p, size_t n);
char *dsl_strndup(DslParse *p, const char *s, size_t n);
Value *dsl_number(DslParse *p, const char *text, Loc loc);
Value *dsl_dims(DslParse *p, const char *text, Loc loc);
/* "text" with its quotes; a NUL byte inside is an error. */
Value *dsl_string(DslParse *p, const char *text, size_t len, Loc loc);
/* In dsl_lower.c: checks the tree and builds the Graph; NULL on error. */
Graph *dsl_lower(DslParse *p);
/* In dsl.c: whether `path` is one of the files being read (an import
 * cycle), and whether one more file may be (imports nest at most
 * MAX_IMPORT_DEPTH files deep). */
#define MAX_IMPORT_DEPTH 16
bool dsl_loading(const char *path);
bool dsl_import_room(void);

/* In dsl_import.c: `NAME: import(...)`. The network statement s names, read
 * and cut (NULL after reporting an error); its output rank and input shape;
 * whether the part kept has parameters; the part copied into g as block
 * NAME (its output tensor; *first: its first node), its nodes reading the
 * network's input reading DSL_IMPORT_SOURCE until dsl_import_link gives
 * them the block's input. */
#define DSL_IMPORT_SOURCE (-3)
typedef struct DslImport DslImport;
DslImport *dsl_import_load(DslParse *p, const Stmt *s, const char *name);
int dsl_import_rank(const DslImport *im);
const Shape *dsl_import_input(const DslImport *im);
bool dsl_import_has_params(const DslImport *im);
int dsl_import_build(Graph *g, const DslImport *im, const char *block, Loc loc, bool frozen,
                     int *first);
void dsl_import_link(Graph *g, int first, int last, int source);
void dsl_import_free(DslImport *im);
}

%code provides {
#define YYSTYPE CNN_STYPE
#define YYLTYPE CNN_LTYPE
int cnn_lex(CNN_STYPE *yylval, CNN_LTYPE *yylloc, yyscan_t scanner);
}

%code {
#include <string.h>

static Loc at(DslParse *p, CNN_LTYPE l)
{
    return (Loc){p->path, l.first_line, l.first_column};
}

static void cnn_error(CNN_LTYPE *l, yyscan_t scanner, DslParse *p, const char *msg)
{
    (void)scanner;
    p->syntax_errors++;
    if (strcmp(msg, "memory exhausted") == 0)
        msg = "nesting too deep";
    diag_error(at(p, *l), "%s", msg);
    if (p->at_eof && p->depth > 0)
        diag_note(p->brace, "this '{' is not closed");
}

static Stmt *new_stmt(DslParse *p, StmtKind kind, CNN_LTYPE l)
{
    Stmt *s = dsl_alloc(p, sizeof *s);
    s->kind = kind;
    s->loc = at(p, l);
    return s;
}

static Value *new_value(DslParse *p, ValueKind kind, CNN_LTYPE l)
{
    Value *v = dsl_alloc(p, sizeof *v);
    v->kind = kind;
    v->loc = at(p, l);
    return v;
}

static Arg *new_arg(DslParse *p, const char *key, CNN_LTYPE l, Value *v)
{
    Arg *a = dsl_alloc(p, sizeof *a);
    a->key = key;
    a->loc = key ? at(p, l) : v->loc;
    a->v = v;
    return a;
}

/* One of a layer's names, as a positional argument holding an identifier. */
static Arg *name_arg(DslParse *p, const char *name, CNN_LTYPE l)
{
    Value *v = new_value(p, V_IDENT, l);
    v->s = name;
    return new_arg(p, NULL, l, v);
}

static ArgList args_add(ArgList l, Arg *a)
{
    if (l.tail)
        l.tail->next = a;
    else
        l.head = a;
    l.tail = a;
    return l;
}

static StmtList stmts_add(StmtList l, Stmt *s)
{
    if (!s)
        return l;
    if (l.tail)
        l.tail->next = s;
    else
        l.head = s;
    l.tail = s;
    return l;
}
}

%union {
    const char *str;
    Value *value;
    Arg *arg;
    ArgList args;
    Stmt *stmt;
    StmtList stmts;
}

%token MODEL "'model'" INPUT "'input'" INIT "'init'" TRAIN "'train'" FROM "'from'"
%token FREEZE "'freeze'"
%token EOL "end of line"
%token <str> IDENT "identifier"
%token <value> NUMBER "number" DIMS "dimensions" STRING "string"

%type <stmts> top stmts sets
%type <stmt> model stmt_opt stmt layer set_opt
%type <value> value tuple
%type <args> args args_opt kwargs kwargs_opt names refs
%type <arg> arg kwarg
%type <str> key ref

%%

/* file: statements at the top level; only `model` is valid there. */
file: top { p->models = $1; } ;

top: %empty { $$ = (StmtList){0}; }
   | model { $$ = stmts_add((StmtList){0}, $1); }
   | error { $$ = (StmtList){0}; }
   | top sep { $$ = $1; }
   | top sep model { $$ = stmts_add($1, $3); }
   | top sep error { $$ = $1; }
   ;

sep: EOL | ';' ;

/* model NAME { statements } */
model: MODEL IDENT '{' stmts '}'
       { $$ = new_stmt(p, S_MODEL, @1); $$->name = $2; $$->name_loc = at(p, @2);
         $$->body = $4.head; }
     ;

stmts: stmt_opt { $$ = stmts_add((StmtList){0}, $1); }
     | stmts sep stmt_opt { $$ = stmts_add($1, $3); }
     ;

stmt_opt: %empty { $$ = NULL; }
        | stmt
        | error { $$ = NULL; }
        ;

stmt: INPUT value kwargs_opt
      { $$ = new_stmt(p, S_INPUT, @1); $$->value = $2; $$->args = $3.head; }
    | INPUT IDENT ':' value kwargs_opt
      { $$ = new_stmt(p, S_INPUT, @1); $$->name = $2; $$->name_loc = at(p, @2);
        $$->value = $4; $$->args = $5.head; }
    | INIT IDENT kwargs_opt
      { $$ = new_stmt(p, S_INIT, @1); $$->word = $2; $$->word_loc = at(p, @2);
        $$->args = $3.head; }
    | layer
    | TRAIN '{' sets '}'
      { $$ = new_stmt(p, S_TRAIN, @1); $$->body = $3.head; }
    | FREEZE refs
      { $$ = new_stmt(p, S_FREEZE, @1); $$->names = $2.head; }
    ;

/* freeze NAME, NAME, ...: the layers (or imported blocks) not trained */
refs: ref { $$ = args_add((ArgList){0}, name_arg(p, $1, @1)); }
    | refs ',' ref { $$ = args_add($1, name_arg(p, $3, @3)); }
    ;

/* [NAME[, NAME...]:] KIND[(ARGS)] [from NAME] */
layer: IDENT args_opt
       { $$ = new_stmt(p, S_LAYER, @1); $$->word = $1; $$->word_loc = at(p, @1);
         $$->args = $2.head; }
     | IDENT args_opt FROM ref
       { $$ = new_stmt(p, S_LAYER, @1); $$->word = $1; $$->word_loc = at(p, @1);
         $$->args = $2.head; $$->from = $4; $$->from_loc = at(p, @4); }
     | IDENT ':' IDENT args_opt
       { $$ = new_stmt(p, S_LAYER, @1); $$->name = $1; $$->name_loc = at(p, @1);
         $$->word = $3; $$->word_loc = at(p, @3); $$->args = $4.head; }
     | IDENT ':' IDENT args_opt FROM ref
       { $$ = new_stmt(p, S_LAYER, @1); $$->name = $1; $$->name_loc = at(p, @1);
         $$->word = $3; $$->word_loc = at(p, @3); $$->args = $4.head;
         $$->from = $6; $$->from_loc = at(p, @6); }
     | names ':' IDENT args_opt
       { $$ = new_stmt(p, S_LAYER, @1); $$->names = $1.head; $$->name = $1.head->v->s;
         $$->name_loc = $1.head->loc; $$->word = $3; $$->word_loc = at(p, @3);
         $$->args = $4.head; }
     | names ':' IDENT args_opt FROM ref
       { $$ = new_stmt(p, S_LAYER, @1); $$->names = $1.head; $$->name = $1.head->v->s;
         $$->name_loc = $1.head->loc; $$->word = $3; $$->word_loc = at(p, @3);
         $$->args = $4.head; $$->from = $6; $$->from_loc = at(p, @6); }
     ;

/* NAME, NAME, ...: a layer with several outputs (split) */
names: IDENT ',' IDENT
       { $$ = args_add(args_add((ArgList){0}, name_arg(p, $1, @1)), name_arg(p, $3, @3)); }
     | names ',' IDENT { $$ = args_add($1, name_arg(p, $3, @3)); }
     ;

ref: IDENT | INPUT { $$ = "input"; } ;

/* The train block: `key = value` per line. */
sets: set_opt { $$ = stmts_add((StmtList){0}, $1); }
    | sets sep set_opt { $$ = stmts_add($1, $3); }
    ;

set_opt: %empty { $$ = NULL; }
       | IDENT '=' value
         { $$ = new_stmt(p, S_SET, @1); $$->name = $1; $$->name_loc = at(p, @1);
           $$->value = $3; }
       | error { $$ = NULL; }
       ;

/* A layer's optional argument list; `()` and a trailing comma are allowed. */
args_opt: %empty { $$ = (ArgList){0}; }
        | '(' ')' { $$ = (ArgList){0}; }
        | '(' args ')' { $$ = $2; }
        | '(' args ',' ')' { $$ = $2; }
        ;

args: arg { $$ = args_add((ArgList){0}, $1); }
    | args ',' arg { $$ = args_add($1, $3); }
    ;

arg: value { $$ = new_arg(p, NULL, @1, $1); }
   | kwarg
   ;

kwarg: key '=' value { $$ = new_arg(p, $1, @1, $3); } ;

key: IDENT | INIT { $$ = "init"; } ;

/* `input` and `init` keywords: `mean=(...), std=(...)`, commas optional. */
kwargs_opt: %empty { $$ = (ArgList){0}; } | kwargs ;

kwargs: kwarg { $$ = args_add((ArgList){0}, $1); }
      | kwargs kwarg { $$ = args_add($1, $2); }
      | kwargs ',' kwarg { $$ = args_add($1, $3); }
      ;

value: NUMBER
     | DIMS
     | STRING
     | IDENT { $$ = new_value(p, V_IDENT, @1); $$->s = $1; }
     | INPUT { $$ = new_value(p, V_IDENT, @1); $$->s = "input"; }
     | IDENT tuple { $$ = $2; $$->kind = V_CALL; $$->s = $1; $$->loc = at(p, @1); }
     | tuple
     ;

tuple: '(' ')' { $$ = new_value(p, V_TUPLE, @1); }
     | '(' args ')' { $$ = new_value(p, V_TUPLE, @1); $$->items = $2.head; }
     | '(' args ',' ')' { $$ = new_value(p, V_TUPLE, @1); $$->items = $2.head; }
     ;

%%
