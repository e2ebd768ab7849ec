/* stub: the DSL grammar is being written */
%define api.pure full
%define api.prefix {cnn_}
%%
top: %empty ;
%%
